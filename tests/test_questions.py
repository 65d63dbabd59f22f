"""docs/questions.md: ten planner questions, each one valid fleetsim command, in sync with its script."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from fleetsim import api, catalog, config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import questions  # noqa: E402

PAGE = ROOT / "docs" / "questions.md"


@pytest.fixture
def real_catalog(monkeypatch):
    monkeypatch.delenv("FLEETSIM_DATA_DIR", raising=False)
    catalog.load.cache_clear()
    yield catalog.load()
    catalog.load.cache_clear()


def test_ten_questions_each_one_command_that_validates(real_catalog):
    assert len(questions.QUESTIONS) == 10
    for _, _, overrides in questions.QUESTIONS:
        cfg = api.compose(shlex.split(questions.command(overrides))[1:])
        config.validate(cfg, real_catalog.ids())


def test_the_page_shows_the_scripts_commands_and_an_answer_to_each():
    text = PAGE.read_text(encoding="utf-8")
    commands = re.findall(r"```bash\n(.*?)\n```", text, re.DOTALL)
    assert commands == [questions.command(o) for _, _, o in questions.QUESTIONS]
    answers = re.findall(r"```text\n(.*?)\n```", text, re.DOTALL)
    assert len(answers) == 10
    for answer in answers:
        assert answer.startswith("scenarios: ")
        assert "options by TCO" in answer or "infeasible" in answer

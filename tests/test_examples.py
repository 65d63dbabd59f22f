"""The worked examples (scripts/examples) and the README's sweep-to-report commands run."""

from __future__ import annotations

import base64
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest

import fleetsim
import fleetsim.analysis.plots as fp

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "scripts" / "examples"
#: a README figure must stay small
MAX_PNG_BYTES = 200_000
#: example -> (figures it writes, a line its answer must contain)
EXPECTED = {
    "which_accelerator": (["which_accelerator.png"], r"^cheapest: .+\nrunner-up: .+TPOT"),
    "electricity_and_cooling": (["electricity_and_cooling.png"], r"^air cooling: cheapest \S+"),
    "build_vs_rent": (["build_vs_rent.png"], r"^b200 +(from year \d|never)"),
    "serving_layout": (["serving_layout.png"], r"^h200: TP\d+ x PP\d+ .+chunked prefill"),
    "interactivity_frontier": (["interactivity_frontier.png"], r"^  b200 +(\d+ |cannot)"),
    "disaggregation": (["disaggregation.png"], r"^  TTFT 1 s .+ cheaper at: "),
}


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    run = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"{shlex.join(command)}\n{run.stdout}\n{run.stderr[-3000:]}"
    return run


def _check_png(path: Path) -> None:
    assert 0 < path.stat().st_size < MAX_PNG_BYTES, path
    height, width = matplotlib.image.imread(path).shape[:2]
    assert height > 300, path
    assert width > 600, path


def test_every_example_is_tested():
    scripts = {path.stem for path in EXAMPLES.glob("*.py") if not path.name.startswith("_")}
    assert scripts == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_and_writes_its_figures(name, tmp_path):
    out = tmp_path / "figures"
    run = _run([sys.executable, str(EXAMPLES / f"{name}.py"), "--quick", "--out", str(out)], REPO)
    figures, answer = EXPECTED[name]
    assert sorted(path.name for path in out.iterdir()) == figures
    for figure in figures:
        _check_png(out / figure)
        assert f"figure: {out / figure}" in run.stdout
    assert re.search(answer, run.stdout, re.MULTILINE), run.stdout


def _readme_section(title: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


def _executable(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is not installed"
    return found


def test_readme_commands_from_sweep_to_report(tmp_path):
    block = re.search(r"```bash\n(.*?)```", _readme_section("Analyse and report"), re.DOTALL)
    commands = [shlex.split(line, comments=True) for line in block.group(1).splitlines()]
    commands = [command for command in commands if command]
    assert [command[0] for command in commands] == ["fleetsim", "fleetsim-report"]
    for command in commands:
        extra = [f"hydra.run.dir={tmp_path / 'hydra'}"] if command[0] == "fleetsim" else []
        run = _run([_executable(command[0]), *command[1:], *extra], tmp_path)
    results = tmp_path / commands[0][-1].removeprefix("output.path=")
    out = commands[1][commands[1].index("--out") + 1]
    report = tmp_path / out
    assert run.stdout.strip() == str(Path(out) / "index.html")
    page = (report / "index.html").read_text(encoding="utf-8")
    pngs = sorted(report.glob("*.png"))
    assert len(pngs) == 5
    assert page.count("<img ") == len(pngs)
    for png in pngs:
        _check_png(png)
        assert f'data-file="{png.name}"' in page
        assert base64.b64encode(png.read_bytes()).decode("ascii") in page
    with fleetsim.open_dataset(results) as ds:
        assert dict(ds.sizes) == {
            "model": 1,
            "hardware": 4,
            "electricity_usd_per_kwh": 5,
            "year": 5,
        }
        ax = fp.plot_cost_heatmap(ds).axes[0]
        assert ax.get_xlabel() == "electricity price [USD/kWh]"
        assert ax.get_ylabel() == "hardware"


def test_an_example_takes_the_clis_overrides(tmp_path):
    # renting at a cent an hour: owning never beats it (at catalog prices it does, from year 2-3)
    args = ["--quick", "--out", str(tmp_path), "finance.rental_usd_per_accelerator_hour=0.01"]
    run = _run([sys.executable, str(EXAMPLES / "build_vs_rent.py"), *args], REPO)
    rows = [line for line in run.stdout.splitlines() if line.startswith(("h100-sxm", "b200"))]
    assert len(rows) == 2, run.stdout
    assert all(row.split()[1] == "never" for row in rows), run.stdout


def test_examples_write_outside_the_tracked_files_by_default():
    # without --out an example writes under results/ (ignored by git), never into docs/
    sys.path.insert(0, str(EXAMPLES))
    try:
        import _common
    finally:
        sys.path.remove(str(EXAMPLES))
    out = _common.DEFAULT_OUT.relative_to(REPO)
    assert out.parts[0] != "docs"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(out / "x.png")], cwd=REPO)
    assert ignored.returncode == 0, f"{out} is not ignored by git"

"""Ten questions a capacity planner asks, each one ``fleetsim`` command; writes docs/questions.md.

Every command runs as typed (real catalog, conf defaults plus the overrides shown) and its printed
answer goes into the page under it, so the page is what a planner would see today.

Usage: ``python scripts/questions.py [--out docs/questions.md]``
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: (question, what to read in the answer, the command's overrides)
QUESTIONS: list[tuple[str, str, str]] = [
    (
        "Which accelerator serves Llama 3.1 405B at 50 M requests/day with a 1 s p99 time to "
        "first token, at the lowest 5-year cost?",
        "The first row; the layout column says how each replica is split (tp/pp searched).",
        "model=llama3.1-405b 'hardware=[h100-sxm,h200,b200,gb200,b300,mi300x,mi325x,mi355x]' "
        "workload.requests_per_day=5e7 workload.ttft_slo_s=1",
    ),
    (
        "DeepSeek-R1: MI355X or B200?",
        "TCO, fleet size and cost per million output tokens side by side.",
        "model=deepseek-r1 'hardware=[mi355x,b200]'",
    ),
    (
        "Is a 50/50 H100 + MI300X fleet cheaper than either alone?",
        "The mix column: `h100-sxm:0.5+mi300x:0.5` against the pure fleets.",
        "'mix.candidates=[h100-sxm,mi300x]' mix.share_step=0.5",
    ),
    (
        "What does 1,000 requests/s (86.4 M a day) take: how many accelerators, how much power?",
        "The accelerators and power columns (last year, after growth).",
        "workload.requests_per_day=8.64e7 'hardware=[h100-sxm,b200]'",
    ),
    (
        "Renting H100s at $2 an hour, or owning them?",
        "The 'if rented' column: renting the same fleet for the horizon, cheaper or dearer.",
        "finance.rental_usd_per_accelerator_hour=2",
    ),
    (
        "The 3-year NPV of the costs at an 8 % discount rate, H100 against B200?",
        "The NPV column (TCO is undiscounted).",
        "finance.years=3 finance.discount_rate=0.08 'hardware=[h100-sxm,b200]'",
    ),
    (
        "Does the choice change with the electricity price?",
        "Each option's TCO as median (best-worst) over the prices: the ranking holds where the "
        "ranges do not cross.",
        "'hardware=[h100-sxm,b200,mi300x]' 'finance.electricity_usd_per_kwh=${linspace:0.04,0.20,5}'",
    ),
    (
        "FP8 or BF16 weights, on H100 and on B200?",
        "Four options ranked: hardware x weight format.",
        "'hardware=[h100-sxm,b200]' 'deployment.weight_dtype=[bf16,fp8]'",
    ),
    (
        "How sure is that, with electricity price and traffic growth uncertain?",
        "P50 (P10-P90) over 200 Monte Carlo draws.",
        "'hardware=[h100-sxm,b200]' sweep.samples=200 "
        "'uncertainty.finance.electricity_usd_per_kwh={dist:uniform,low:0.05,high:0.15}' "
        "'uncertainty.workload.growth_per_year={dist:uniform,low:0.2,high:1.0}'",
    ),
    (
        "With interactive latency targets (0.45 s TTFT, 40 ms per token), which accelerator?",
        "The ranking and each row's utilisation: a row far below the others (a few %) meets the "
        "targets only with a huge, mostly idle fleet; a row that cannot meet them at all is "
        "listed as infeasible with the change to try.",
        "workload=interactive 'hardware=[h100-sxm,h200,b200,mi300x,l40s]'",
    ),
]


def command(overrides: str) -> str:
    """Return the command line a planner types (the layout is searched: tp=auto pp=auto by
    default)."""
    return f"fleetsim {overrides}"


def answer(overrides: str, folder: Path) -> str:
    """Run one question's command; return what it prints (without the ``written:`` line)."""
    executable = shutil.which("fleetsim") or str(Path(sys.executable).with_name("fleetsim"))
    args = [executable, *shlex.split(command(overrides))[1:], f"hydra.run.dir={folder}"]
    env = {k: v for k, v in os.environ.items() if k != "FLEETSIM_DATA_DIR"}
    run = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if run.returncode != 0:
        raise SystemExit(f"{command(overrides)} failed:\n{run.stderr}")
    lines = [line for line in run.stdout.splitlines() if not line.startswith("written: ")]
    return "\n".join(lines)


def page(answers: list[str]) -> str:
    """Return docs/questions.md."""
    parts = [
        "# Ten questions a capacity planner asks",
        "",
        "Each is one command; the text under it is what that command printed (written by "
        "`python scripts/questions.py`; conf defaults: Llama 3.1 70B, the chat workload of 5 M "
        "requests/day growing 50 % a year, p99 TTFT 2 s, TPOT 200 ms, 5 years, catalog prices, "
        "the layout searched: `deployment.tp=auto deployment.pp=auto`). "
        "Options are ranked by median TCO; swept dimensions that are not choices show as "
        "ranges, Monte Carlo draws as P10-P90. `$/M in` / `$/M out`: USD per million input / "
        "output tokens in year 1.",
        "",
    ]
    for number, ((question, read, overrides), text) in enumerate(
        zip(QUESTIONS, answers, strict=True), start=1
    ):
        parts += [
            f"## {number}. {question}",
            "",
            "```bash",
            command(overrides),
            "```",
            "",
            "```text",
            text,
            "```",
            "",
            f"Read: {read}",
            "",
        ]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "questions.md")
    args = parser.parse_args()
    answers = []
    with tempfile.TemporaryDirectory() as tmp:
        for number, (_, _, overrides) in enumerate(QUESTIONS, start=1):
            started = time.perf_counter()
            answers.append(answer(overrides, Path(tmp) / str(number)))
            print(f"question {number}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    temporary = args.out.with_suffix(".md.tmp")
    temporary.write_text(page(answers), encoding="utf-8")
    temporary.replace(args.out)
    print(args.out)


if __name__ == "__main__":
    main()

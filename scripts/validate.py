"""Check fleetsim's physics against the calibration set: the time split, cross-validation, tails.

For every covered row of ``data/calibration.csv`` fleetsim predicts tokens/s per accelerator with
the efficiency model of ``scripts/fit_efficiency.py`` (conf defaults for every engine setting the
row does not state). Printed, per (model, scenario) group and overall (median, p90 and worst
|error|, and the median signed error):

* the **time split** (the headline): fitted on the rows published before MLPerf Inference v5.1
  (``fit_efficiency.PRE_V51_ROUNDS``), every v5.1 row predicted -- the forward test;
* leave one system out over every row (refit without the held-out submission);
* what the time split asks beyond physics, from the measurements alone: the persistence forecast
  (a v5.1 row predicted by its setup's v4.x measurement: the software gain between the rounds)
  and the spread between v5.1 submissions of one setup (:func:`limits_table`);
* the Interactive/Offline and Server/Offline throughput ratio per system, predicted vs measured;
* predicted vs measured p99 TPOT and p99 TTFT of the Server and Interactive rows;
* disaggregated deployments (``scripts/validate_disaggregated.py``): prefill and decode pools'
  throughput per GPU, predicted vs published;

each beside the targets of issue #11 with pass/fail. Then fleetsim at 100 % of peak, the peer
tools' standard case and the rows not covered. The kernel evaluations are cached on disk
(``fit_efficiency._cached_table``), so a second run takes seconds.

Usage: ``python scripts/validate.py [--rows C01o,C05o,...] [--coarse]`` (``--coarse``: a 4x coarser
efficiency grid, for quick checks and tests).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from fleetsim import api

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fit_efficiency as fe  # noqa: E402
import validate_disaggregated  # noqa: E402

PEERS_NOTE = (
    "Peers (../shared/PEERS.md, not per row): llm-analysis and GenZ at their default 100 % "
    "efficiency predict 2.1-4.3x the throughput NVIDIA measured with TensorRT-LLM (FP8 Llama-70B, "
    "TP2/TP4); aiconfigurator (measured NVIDIA kernels) is within 0-24 % on TTFT and ~2x "
    "optimistic on 2048-token outputs."
)


#: PEERS.md's standard case -- 70B, H100 SXM, TP8, 1024 in / 128 out, static batch, BF16 -- as
#: each peer tool predicted it (../shared/PEERS.md, Nov 2026): batch -> (TTFT s, TPOT s, tokens/s
#: per GPU) for llm-analysis 0.2.2, GenZ (genz-llm 0.0.16), aiconfigurator 0.12.0 (measured kernels)
PEER_STANDARD_CASE = {
    1: ((0.0255, 0.00558, 21.8), (0.0312, 0.00778, 15.7), (0.0531, 0.00994, 12.2)),
    16: ((0.406, 0.00601, 219.0), (0.453, 0.00812, 173.0), (0.620, 0.0108, 129.0)),
    64: ((1.623, 0.00739, 400.0), (1.802, 0.00919, 345.0), (2.411, 0.0151, 237.0)),
    256: ((6.493, 0.0143, 493.0), (7.197, 0.0135, 460.0), (9.652, 0.0247, 320.0)),
}
PEERS = ("llm-analysis", "GenZ", "aiconfigurator")


def peer_standard_case(out=sys.stdout) -> dict[int, tuple[float, float, float]]:
    """Print fleetsim's standard case of PEERS.md beside the peer tools; return fleetsim's cells.

    A static batch of B prompts is prefilled together (TTFT = B x one prompt's prefill, as the
    peers count it), then decodes; fleetsim's ``prefill=whole`` operating point at
    ``max_batch=B`` gives the same tokens/s, and its TPOT without the prompts' share is the
    decode step.
    """
    batches = sorted(PEER_STANDARD_CASE)
    ds = api.run(
        [*fe.STANDARD_CASE, f"deployment.max_batch=[{','.join(map(str, batches))}]"]
    ).squeeze(drop=True)
    print(
        "\nPEERS.md standard case (70B, H100 SXM TP8, 1024/128, static batch, BF16), each cell "
        "TTFT ms / TPOT ms / tokens/s per GPU:",
        file=out,
    )
    print(
        f"  {'batch':>5s}  {'fleetsim (fitted)':>20s}  " + "  ".join(f"{p:>20s}" for p in PEERS),
        file=out,
    )
    cells = {}
    for b in batches:
        point = ds.sel(max_batch=b)
        ttft = b * float(point.prefill_time_s)
        tpot = float(point.tpot_s) * (1 - float(point.prefill_share))
        cells[b] = (ttft, tpot, float(point.tokens_per_s_per_accelerator))
        row = [cells[b], *PEER_STANDARD_CASE[b]]
        text = "  ".join(f"{1e3 * t:7.1f}/{1e3 * q:5.2f}/{r:5.0f}" for t, q, r in row)
        print(f"  {b:5d}  {text}", file=out)
    print(
        "  fleetsim carries the fitted efficiencies and step overhead; llm-analysis and GenZ run at "
        "100 % of peak; aiconfigurator interpolates measured NVIDIA kernels.",
        file=out,
    )
    return cells


#: issue #11's targets on the time split
TARGET_MEDIAN = 12.0  # overall median |error| [%]
TARGET_P90 = 30.0  # overall p90 |error| [%]
TARGET_GROUP_MEDIAN = 20.0  # median |error| of every (model, scenario) group with >= 5 rows [%]
TARGET_GROUP_ROWS = 5
TARGET_RATIO = 0.10  # |predicted - measured| Interactive/Offline ratio, every system with both
TARGET_TAIL_FACTOR = 1.5  # predicted / measured p99 TPOT and TTFT on the median row
SCENARIOS = ("offline", "server", "interactive")


def stats(errors: np.ndarray) -> tuple[int, float, float, float, float]:
    """Return (rows, median |e|, p90 |e|, worst |e|, median e) of errors in %."""
    e = np.asarray(errors, float)
    if not e.size:
        return 0, math.nan, math.nan, math.nan, math.nan
    a = np.abs(e)
    return (
        e.size,
        float(np.median(a)),
        float(np.percentile(a, 90)),
        float(a.max()),
        float(np.median(e)),
    )


def group_table(rows: Sequence[fe.Row], errors: np.ndarray, title: str, out) -> dict:
    """Print per-(model, scenario) and overall error statistics; return them by group key."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault((r.model, r.scenario), []).append(i)
    print(f"\n{title}", file=out)
    print(
        f"  {'model':14s} {'scenario':11s} {'rows':>4s} {'median':>7s} {'p90':>7s} {'worst':>7s}"
        f" {'bias':>7s}   (|error| %; bias = median signed error, + = fleetsim too optimistic)",
        file=out,
    )
    result = {}
    order = sorted(groups, key=lambda k: (k[0], SCENARIOS.index(k[1])))
    for key in [*order, ("all", "")]:
        idx = groups.get(key, range(len(rows)))
        s = stats(errors[list(idx)])
        result[key] = s
        verdict = ""
        if key != ("all", "") and s[0] >= TARGET_GROUP_ROWS:
            ok = s[1] <= TARGET_GROUP_MEDIAN
            verdict = f"  target median <= {TARGET_GROUP_MEDIAN:g} %: {'pass' if ok else 'FAIL'}"
        print(
            f"  {key[0]:14s} {key[1]:11s} {s[0]:4d} {s[1]:7.1f} {s[2]:7.1f} {s[3]:7.1f} {s[4]:+7.1f}"
            f"{verdict}",
            file=out,
        )
    return result


def targets(result: dict, out) -> dict[str, bool]:
    """Print the time split's throughput targets with pass/fail; return them."""
    n, median, p90, _, _ = result[("all", "")]
    big = {k: v for k, v in result.items() if k != ("all", "") and v[0] >= TARGET_GROUP_ROWS}
    checks = {
        f"overall median |error| <= {TARGET_MEDIAN:g} % (is {median:.1f} %)": median
        <= TARGET_MEDIAN,
        f"overall p90 |error| <= {TARGET_P90:g} % (is {p90:.1f} %)": p90 <= TARGET_P90,
        f"every group with >= {TARGET_GROUP_ROWS} rows: median <= {TARGET_GROUP_MEDIAN:g} % "
        f"({sum(v[1] <= TARGET_GROUP_MEDIAN for v in big.values())} of {len(big)} pass)": all(
            v[1] <= TARGET_GROUP_MEDIAN for v in big.values()
        ),
    }
    for text, ok in checks.items():
        print(f"  target: {text}: {'pass' if ok else 'FAIL'}", file=out)
    return checks


def ratio_table(rows: Sequence[fe.Row], predicted: np.ndarray, out) -> dict[str, list]:
    """Print Interactive/Offline and Server/Offline per system and model, predicted vs measured."""
    by_system: dict[tuple[str, str], dict[str, int]] = {}
    for i, r in enumerate(rows):
        by_system.setdefault((r.system, r.model), {})[r.scenario] = i
    print(
        "\nThroughput ratio per system (same submission), predicted (time-split fit) vs measured:",
        file=out,
    )
    print(
        f"  {'system':58s} {'model':13s} {'ratio':>7s} {'meas':>6s} {'pred':>6s} {'diff':>6s}",
        file=out,
    )
    result: dict[str, list] = {"interactive": [], "server": []}
    for (system, _), scen in by_system.items():
        if "offline" not in scen:
            continue
        o = scen["offline"]
        for kind in ("interactive", "server"):
            if kind not in scen:
                continue
            k = scen[kind]
            meas = rows[k].measured / rows[o].measured
            pred = predicted[k] / predicted[o]
            diff = pred - meas
            result[kind].append((system, meas, pred))
            verdict = ""
            if kind == "interactive":
                verdict = f"  target +-{TARGET_RATIO:g}: {'pass' if abs(diff) <= TARGET_RATIO else 'FAIL'}"
            label = "I/O" if kind == "interactive" else "S/O"
            print(
                f"  {system[:58]:58s} {rows[o].model:13s} {label:>7s} {meas:6.2f} {pred:6.2f}"
                f" {diff:+6.2f}{verdict}",
                file=out,
            )
    for kind, label in (("interactive", "Interactive/Offline"), ("server", "Server/Offline")):
        d = np.array([p - m for _, m, p in result[kind]])
        if d.size:
            print(
                f"  {label}: {d.size} systems, median predicted - measured {np.median(d):+.2f}, "
                f"worst {d[np.argmax(np.abs(d))]:+.2f}"
                + (
                    f"; target every system within +-{TARGET_RATIO:g}: "
                    f"{'pass' if np.all(np.abs(d) <= TARGET_RATIO) else 'FAIL'}"
                    if kind == "interactive"
                    else ""
                ),
                file=out,
            )
    return result


def tail_table(rows: Sequence[fe.Row], points: Sequence[dict], out) -> dict[str, float]:
    """Print predicted vs measured p99 TPOT and TTFT of Server/Interactive rows."""
    print(
        "\nLatency tails, Server and Interactive rows (time-split fit): fleetsim's p99 TPOT and "
        "p99 TTFT / the measured p99s",
        file=out,
    )
    print(f"  {'model':14s} {'scenario':11s} {'rows':>4s} {'TPOT median':>12s} {'range':>13s}"
          f" {'TTFT median':>12s} {'range':>13s}", file=out)  # fmt: skip
    groups = _latency_groups(rows, lambda r: r.p99_tpot_s and r.p99_ttft_s)
    result = {}
    for key, idx in groups.items():
        tpot = np.array([points[i]["tpot_p99_s"] / rows[i].p99_tpot_s for i in idx])
        ttft = np.array([points[i]["ttft_p99_s"] / rows[i].p99_ttft_s for i in idx])
        print(
            f"  {key[0]:14s} {key[1]:11s} {len(idx):4d} {np.nanmedian(tpot):12.2f}"
            f" {np.nanmin(tpot):6.2f}-{np.nanmax(tpot):<6.2f} {np.nanmedian(ttft):12.2f}"
            f" {np.nanmin(ttft):6.2f}-{np.nanmax(ttft):<6.2f}",
            file=out,
        )
        if key == ("all", ""):
            result = {"tpot": float(np.nanmedian(tpot)), "ttft": float(np.nanmedian(ttft))}
    for name, value in result.items():
        ok = 1 / TARGET_TAIL_FACTOR <= value <= TARGET_TAIL_FACTOR
        print(
            f"  target: {name.upper()} within a factor {TARGET_TAIL_FACTOR:g} of the measured p99 "
            f"on the median row (is {value:.2f}x): {'pass' if ok else 'FAIL'}",
            file=out,
        )
    return result


def spread_table(rows: Sequence[fe.Row], points: Sequence[dict], out) -> dict[str, float]:
    """Print the p99 / mean of TPOT and TTFT, fleetsim's and the measured, per group.

    The ratio says how wide fleetsim's per-request distributions are, whatever the load each
    submitter ran at (MLPerf's logs give the mean beside the p99).
    """
    print(
        "\nSpread of per-request latency, Server and Interactive rows with published means "
        "(time-split fit): p99 / mean, fleetsim vs measured",
        file=out,
    )
    print(f"  {'model':14s} {'scenario':11s} {'rows':>4s} {'TPOT fleetsim':>14s} {'measured':>9s}"
          f" {'TTFT fleetsim':>14s} {'measured':>9s}", file=out)  # fmt: skip
    groups = _latency_groups(rows, lambda r: r.mean_tpot_s and r.mean_ttft_s)
    result = {}
    for key, idx in groups.items():
        ratios = np.array(
            [
                (
                    points[i]["tpot_p99_s"] / points[i]["tpot_s"],
                    rows[i].p99_tpot_s / rows[i].mean_tpot_s,
                    points[i]["ttft_p99_s"] / points[i]["ttft_s"],
                    rows[i].p99_ttft_s / rows[i].mean_ttft_s,
                )
                for i in idx
            ]
        )
        median = np.nanmedian(ratios, axis=0)
        print(
            f"  {key[0]:14s} {key[1]:11s} {len(idx):4d} {median[0]:14.2f} {median[1]:9.2f}"
            f" {median[2]:14.2f} {median[3]:9.2f}",
            file=out,
        )
        if key == ("all", ""):
            names = ("tpot_fleetsim", "tpot_measured", "ttft_fleetsim", "ttft_measured")
            result = dict(zip(names, map(float, median), strict=True))
    return result


def _latency_groups(rows: Sequence[fe.Row], has) -> dict[tuple[str, str], list[int]]:
    """Return the Server/Interactive rows for which ``has(row)``, by (model, scenario) and all."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(rows):
        if r.scenario != "offline" and has(r):
            groups.setdefault((r.model, r.scenario), []).append(i)
    every = [i for idx in groups.values() for i in idx]
    return {key: groups[key] for key in sorted(groups)} | {("all", ""): every}


def setup_key(row: fe.Row) -> tuple:
    """Return what one measured setup shares: workload, accelerator, layout, format and engine."""
    return (
        row.model, row.scenario, row.input_tokens, row.hardware, row.tp, row.pp,
        row.weight_dtype, row.engine,
    )  # fmt: skip


def _setups(rows: Sequence[fe.Row], mask: np.ndarray) -> dict[tuple, list[int]]:
    """Return the rows under ``mask`` with a stated TP degree, by :func:`setup_key`."""
    groups: dict[tuple, list[int]] = {}
    for i in np.flatnonzero(mask):
        if rows[i].tp:
            groups.setdefault(setup_key(rows[i]), []).append(int(i))
    return groups


def persistence(rows: Sequence[fe.Row], earlier: np.ndarray, later: np.ndarray) -> dict[int, float]:
    """Return each later row's error [%] when predicted by its setup's latest earlier measurement.

    The *persistence forecast*: a later row (``later``) whose :func:`setup_key` was measured in
    an earlier round (``earlier``) is predicted by the median measurement of that setup's latest
    earlier round. Its error, ``100 (predicted / measured - 1)`` as the time split's, is what the
    software (and submitter) change between the rounds alone costs a model that knows every
    earlier measurement exactly.
    """
    before = _setups(rows, earlier)
    errors = {}
    for key, idx in _setups(rows, later).items():
        if key not in before:
            continue
        latest = max(rows[i].round for i in before[key])
        value = float(np.median([rows[i].measured for i in before[key] if rows[i].round == latest]))
        for i in idx:
            errors[i] = 100.0 * (value / rows[i].measured - 1.0)
    return errors


def submitter_spread(rows: Sequence[fe.Row], mask: np.ndarray) -> dict[int, float]:
    """Return each row's error [%] when predicted by the other submissions of its setup.

    Rows under ``mask`` sharing a :func:`setup_key` (the same round: different submitters and
    systems with the same accelerator, layout, format and engine) predict each other: a row's
    error is ``100 (median(others) / measured - 1)``. No model that takes only the setup as input
    can do better on those rows than this spread, on average.
    """
    errors = {}
    for idx in _setups(rows, mask).values():
        systems = {rows[i].system for i in idx}
        if len(systems) < 2:
            continue
        for i in idx:
            others = [rows[j].measured for j in idx if rows[j].system != rows[i].system]
            errors[i] = 100.0 * (float(np.median(others)) / rows[i].measured - 1.0)
    return errors


def limits_table(
    rows: Sequence[fe.Row], train: np.ndarray, error: np.ndarray, out
) -> dict[str, dict[int, float]]:
    """Print what the time split asks beyond physics: software gains and submitter spread.

    Measured rows only (no fleetsim): the persistence forecast of every v5.1 row whose setup was
    measured before (:func:`persistence`) and the spread between v5.1 submissions of one setup
    (:func:`submitter_spread`), each beside fleetsim's time-split error on the same rows.
    """
    test = ~train
    gain = persistence(rows, train, test)
    spread = submitter_spread(rows, test)
    print(
        "\nWhat the time split asks beyond physics (measured rows only; a setup = model, "
        "scenario, prompt length, accelerator, tp, pp, weight format, engine):",
        file=out,
    )
    print(
        f"  {'forecast':44s} {'rows':>5s} {'setups':>6s} {'median':>7s} {'p90':>6s} {'bias':>6s}"
        f" {'fleetsim':>9s}   (|error| %; fleetsim: its time-split median on the same rows)",
        file=out,
    )
    _limits_line(rows, gain, error, "persistence: v5.1 row = its setup's v4.x value", out)
    _limits_line(rows, spread, error, "spread: v5.1 row = other v5.1 submitters", out)
    return {"persistence": gain, "spread": spread}


def _limits_line(rows, errs: dict[int, float], error: np.ndarray, label: str, out) -> None:
    if not errs:
        print(f"  {label:44s} {0:5d}", file=out)
        return
    idx = list(errs)
    n, median, p90, _, bias = stats(np.array([errs[i] for i in idx]))
    setups = len({setup_key(rows[i]) for i in idx})
    fleet = error[idx]
    mine = f"{stats(fleet)[1]:9.1f}" if np.all(np.isfinite(fleet)) else f"{'-':>9s}"
    print(
        f"  {label:44s} {n:5d} {setups:6d} {median:7.1f} {p90:6.1f} {bias:+6.1f} {mine}",
        file=out,
    )


@contextlib.contextmanager
def coarse_grid(step: int) -> Iterator[None]:
    """Use every ``step``-th efficiency grid point (quick runs); shifts scale accordingly."""
    saved = fe.ETA_C, fe.ETA_M, fe.GRID_RATIO, fe.MAX_SHIFT
    fe.ETA_C = fe.ETA_C[::-1][::step][::-1].copy()
    fe.ETA_M = fe.ETA_M[::-1][::step][::-1].copy()
    fe.GRID_RATIO = fe.GRID_RATIO**step
    fe.MAX_SHIFT = max(1, fe.MAX_SHIFT // step)
    try:
        yield
    finally:
        fe.ETA_C, fe.ETA_M, fe.GRID_RATIO, fe.MAX_SHIFT = saved


def run(
    row_ids: Sequence[str] | None = None,
    coarse: bool = False,
    out=sys.stdout,
    stated: str = "layout",
) -> dict:
    """Print the validation tables; return the per-row errors and summaries.

    ``stated``: the engine settings of each row's submission to apply
    (``fit_efficiency.STATED_SETTINGS``; the shipped fit uses ``layout``).
    """
    with coarse_grid(4) if coarse else contextlib.nullcontext():
        return _run(row_ids, out, stated)


def counts(rows: Sequence[fe.Row], out) -> None:
    """Print the covered rows per round, scenario and model."""
    table: dict[tuple[str, str], dict[str, int]] = {}
    for r in rows:
        cell = table.setdefault((r.round, r.model), {})
        cell[r.scenario] = cell.get(r.scenario, 0) + 1
    print(f"\nCovered rows: {len(rows)}", file=out)
    print(f"  {'round':26s} {'model':14s} " + " ".join(f"{s:>11s}" for s in SCENARIOS), file=out)
    for (rnd, model), cell in sorted(table.items()):
        print(
            f"  {rnd:26s} {model:14s} " + " ".join(f"{cell.get(s, 0):11d}" for s in SCENARIOS),
            file=out,
        )


def _run(row_ids: Sequence[str] | None, out, stated: str) -> dict:
    start = time.perf_counter()
    rows = fe.load_rows()
    if row_ids:
        rows = [r for r in rows if r.id in set(row_ids)]
    evaluator = fe.Evaluator(stated)
    measured = np.array([r.measured for r in rows])
    log_measured = np.log(measured)
    train = fe.train_mask(rows, "pre-v5.1")
    test = ~train
    tables = evaluator.grid_tables(rows)

    print(
        f"fleetsim vs {len(rows)} published measurements (data/calibration.csv, covered rows); "
        "conf defaults for every engine setting a row does not state",
        file=out,
    )
    counts(rows, out)

    # the time split: fit on the rows published before MLPerf v5.1, predict every later row
    anchors = evaluator.anchor_errors()
    split = fe.fit(tables, rows, train, anchors=anchors)
    predicted = np.exp(fe.predict_log(split, tables, rows))
    error = 100 * (predicted / measured - 1)
    shipped = " (= the fit shipped in data/hardware.csv)" if fe.DEFAULT_TRAIN == "pre-v5.1" else ""
    print(
        f"\nTIME SPLIT (headline): fitted on {int(train.sum())} rows of rounds "
        f"{', '.join(fe.PRE_V51_ROUNDS)}{shipped}; step overhead {1e3 * split.overhead:g} ms; "
        f"predicting the {int(test.sum())} rows of mlperf-inference-v5.1",
        file=out,
    )
    test_rows = [r for r, t in zip(rows, test, strict=True) if t]
    points = []
    for r in rows:
        ic, im = split.indices(r.hardware)
        points.append(evaluator.operating_point(r, (fe.ETA_C[ic], fe.ETA_M[im]), split.overhead))
    print(
        f"  {'id':6s} {'scenario':11s} {'case':66s} {'measured':>9s} {'predicted':>9s} {'err%':>6s}",
        file=out,
    )
    for i in np.flatnonzero(test):
        r = rows[i]
        case = f"{r.case} ->tp{points[i]['tp']}"
        print(
            f"  {r.id:6s} {r.scenario:11s} {case[:66]:66s} {r.measured:9.1f} {predicted[i]:9.1f}"
            f" {error[i]:+6.1f}",
            file=out,
        )
    split_result = {}
    split_checks = {}
    if test.any():
        split_result = group_table(
            test_rows, error[test], "Time split, v5.1 rows predicted (|error| %):", out
        )
        split_checks = targets(split_result, out)
    in_sample = group_table(
        [r for r, t in zip(rows, train, strict=True) if t],
        error[train],
        "Time split, the training rows in-sample (|error| %):",
        out,
    )

    # leave one system out over every row
    cv_system = 100 * (
        np.exp(fe.cross_validate(tables, rows, "system", anchors=anchors)) / measured - 1
    )
    loso = group_table(rows, cv_system, "Leave one system out over every row (|error| %):", out)

    limits = limits_table(rows, train, error, out)
    ratios = ratio_table(rows, predicted, out)
    tails = tail_table(rows, points, out)
    spreads = spread_table(rows, points, out)

    ideal = np.array([evaluator.operating_point(r, (1.0, 1.0), 0.0)["tokens"] for r in rows])
    ratio = ideal / measured
    print(
        f"\nfleetsim at 100 % of peak (eta_c = eta_m = 1, no overhead) predicts {np.nanmedian(ratio):.1f}x"
        f" the measured throughput (median; range {np.nanmin(ratio):.1f}-{np.nanmax(ratio):.1f}x).",
        file=out,
    )
    print(PEERS_NOTE, file=out)
    peer_standard_case(out)
    not_covered = [r for r in fe.load_rows(covered_only=False) if not r.covered]
    print(
        f"\nNot covered ({len(not_covered)} rows, kept in data/calibration.csv with the reason):",
        file=out,
    )
    for r in not_covered:
        print(f"  {r.id:6s} {r.note.removeprefix('NOT COVERED: ')[:110]}", file=out)
    disaggregated = validate_disaggregated.report(out)
    print(f"\nruntime {time.perf_counter() - start:.1f} s", file=out)
    return {
        "rows": rows,
        "train": train,
        "time_split": error,
        "time_split_groups": split_result,
        "time_split_targets": split_checks,
        "in_sample_groups": in_sample,
        "cv_system": cv_system,
        "loso_groups": loso,
        "ratios": ratios,
        "limits": limits,
        "tails": tails,
        "spreads": spreads,
        "log_measured": log_measured,
        "disaggregated": disaggregated,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", help="comma-separated calibration ids (default: all covered)")
    parser.add_argument("--coarse", action="store_true", help="4x coarser efficiency grid")
    parser.add_argument(
        "--stated",
        choices=tuple(fe.STATED_SETTINGS),
        default="layout",
        help="engine settings of each row's submission to apply (default layout: the parallel "
        "layout and the sequence cap, as the shipped fit; all: also the prefill mode and the "
        "step token budget)",
    )
    args = parser.parse_args(argv)
    run(args.rows.split(",") if args.rows else None, args.coarse, stated=args.stated)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

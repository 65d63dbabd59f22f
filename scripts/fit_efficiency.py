"""Fit the achievable fractions of peak (compute_efficiency, bandwidth_efficiency) to measurements.

Reads the covered rows of ``data/calibration.csv`` (published serving throughput: MLPerf Inference
v4.0/v4.1 closed, TensorRT-LLM's performance tables), evaluates fleetsim's own physics for every row
on a grid of efficiencies and per-step overheads (one kernel call per row through
:func:`fleetsim.sweep.evaluate_range`), fits a small hierarchical model of the efficiencies by
minimising the summed absolute log error, and writes the result into ``data/hardware.csv`` (kind
``fitted``; accelerators without measurements inherit a measured family's pair, kind
``assumption``) and the fitted per-step overhead into ``conf/deployment/default.yaml``.
Re-running gives the same files.

Model of the efficiencies, in log space, for accelerator ``a`` of family ``f``::

    log eta_c(a) = log eta_c(f) + s(a)        log eta_m(a) = log eta_m(f) + s(a)

* ``eta_c(f), eta_m(f)``: one pair per family (architecture x form factor x the vendor-optimised
  serving stack: TensorRT-LLM on NVIDIA, vLLM-ROCm on AMD, SynapseAI on Gaudi). A family's
  log(eta_m/eta_c) is pulled towards the reference family's (Hopper SXM, whose rows span
  compute- and memory-bound cases) with weight ``SHAPE_PENALTY``, so a family measured on one
  workload only gets one effective parameter.
* ``s(a)``: a per-accelerator scale, only for accelerators measured on ``MIN_SYSTEMS`` or more
  distinct systems, ridge-penalised (``SCALE_PENALTY``) towards the family.
* one per-decode-step overhead for all rows.

eta_m is capped at ``BANDWIDTH_CEILING`` (what a streaming kernel reaches: 7.35 of 8.0 TB/s on
Azure ND GB200 v6, source ``azure_gb200_microbench``); without the cap the fit trades bandwidth
efficiency against the step overhead and drifts to eta_m = 1.

Tensor parallelism: rows that state their layout use it; otherwise the TP degree (pp = 1) with the
best throughput per accelerator among {1, 2, 4, 8} within the node is taken (:func:`tp_candidates`),
which is what a serving engineer does and what a ``deployment.tp=auto`` would do in the kernel.

Usage: ``python scripts/fit_efficiency.py [--check]`` (``--check``: fit and print, write nothing).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fleetsim import api, axes, catalog, config, layout, sweep
from fleetsim.config import FIELD_BY_KEY, FIELDS

ROOT = Path(__file__).resolve().parents[1]
CALIBRATION_CSV = ROOT / "data" / "calibration.csv"
HARDWARE_CSV = ROOT / "data" / "hardware.csv"
DEPLOYMENT_YAML = ROOT / "conf" / "deployment" / "default.yaml"

#: source id of the fitted rows (data/sources.csv) and the date the fit's newest data refer to
SOURCE_ID = "fleetsim_calibration"
AS_OF = "2025"

#: log-spaced efficiency grids: neighbours differ by GRID_RATIO, so scaling an accelerator's pair
#: by GRID_RATIO**k is a shift of k grid points
GRID_RATIO = 1.02
BANDWIDTH_CEILING = 0.92
ETA_C = GRID_RATIO ** -np.arange(151.0)[::-1]  # 0.0505 .. 1.0
ETA_M = BANDWIDTH_CEILING * GRID_RATIO ** -np.arange(91.0)[::-1]  # 0.155 .. 0.92
#: candidate per-decode-step overheads [s]. Bounded at 4 ms: the throughput rows fit equally well up
#: to ~12 ms (the overhead trades against eta_m at large batch), but a fixed cost that large would
#: wreck small-batch latency; aiconfigurator's measured-kernel batch-1 TPOT for 70B TP8 BF16 on H100
#: (9.94 ms) exceeds the 100 %-roofline one (5.58 ms) by ~4 ms (../shared/PEERS.md)
OVERHEADS = (0.0, 1e-3, 2e-3, 3e-3, 4e-3)
#: tensor-parallel degrees tried when a row does not state its layout (pp = 1)
TP_CHOICES = (1, 2, 4, 8)

#: family = architecture x form factor x the vendor-optimised serving stack the factors stand for
FAMILY = {
    "a100-sxm": "nvidia-ampere-sxm",
    "h100-sxm": "nvidia-hopper-sxm",
    "h200": "nvidia-hopper-sxm",
    "gh200": "nvidia-hopper-sxm",
    "h100-nvl": "nvidia-hopper-pcie",
    "h100-pcie": "nvidia-hopper-pcie",
    "b200": "nvidia-blackwell",
    "gb200": "nvidia-blackwell",
    "b300": "nvidia-blackwell",
    "l40s": "nvidia-ada-pcie",
    "l4": "nvidia-ada-pcie",
    "mi300x": "amd-cdna3",
    "mi325x": "amd-cdna3",
    "mi355x": "amd-cdna4",
    "gaudi2": "intel-gaudi",
    "gaudi3": "intel-gaudi",
}
#: where a family without measurements takes its pair from: the nearest measured family of the
#: same vendor (same form factor / power class first); None = geometric mean of fitted families
FALLBACK = {
    "nvidia-hopper-sxm": None,
    "nvidia-hopper-pcie": "nvidia-hopper-sxm",
    "nvidia-ada-pcie": "nvidia-hopper-pcie",
    "nvidia-blackwell": "nvidia-hopper-sxm",
    "nvidia-ampere-sxm": "nvidia-hopper-sxm",
    "amd-cdna3": None,
    "amd-cdna4": "amd-cdna3",
    "intel-gaudi": None,
}
REFERENCE_FAMILY = "nvidia-hopper-sxm"
#: penalty weights, in units of summed absolute log error; chosen among {0.1, 0.5, 2} each by the
#: leave-one-system-out worst error (all nine pairs give cross-validated medians of 9-12 %)
SCALE_PENALTY = 2.0
SHAPE_PENALTY = 0.5
#: an accelerator gets its own scale only when measured on this many distinct systems
MIN_SYSTEMS = 2
#: largest per-accelerator shift tried, in grid steps (GRID_RATIO**40 = 2.2x)
MAX_SHIFT = 40
#: error assigned to a grid point where no TP degree is feasible (log units)
INFEASIBLE = 10.0


@dataclasses.dataclass(frozen=True)
class Row:
    """One calibration measurement (a row of data/calibration.csv)."""

    id: str
    covered: bool
    model: str
    hardware: str
    n_accelerators: int
    tp: int
    weight_dtype: str
    kv_dtype: str
    stack: str
    prefill: str
    round: str
    scenario: str
    input_tokens: int
    output_tokens: int
    ttft_s: float | None
    tpot_s: float | None
    measured: float
    p99_ttft_s: float | None
    p99_tpot_s: float | None
    submitter: str
    system: str
    note: str

    @property
    def family(self) -> str:
        return FAMILY[self.hardware]

    @property
    def case(self) -> str:
        tp = f"tp{self.tp}" if self.tp else "tp?"
        return (
            f"{self.model} {self.hardware}x{self.n_accelerators} {tp} {self.weight_dtype} "
            f"{self.stack} {self.input_tokens}/{self.output_tokens}"
        )


def _num(text: str) -> float | None:
    return float(text) if text.strip() else None


def load_rows(path: Path = CALIBRATION_CSV, covered_only: bool = True) -> list[Row]:
    """Read data/calibration.csv; by default only the rows fleetsim's model covers."""
    rows = []
    with open(path, newline="") as handle:
        for r in csv.DictReader(handle):
            covered = r["covered"] == "yes"
            if covered_only and not covered:
                continue
            rows.append(
                Row(
                    id=r["calibration_id"],
                    covered=covered,
                    model=r["model_id"],
                    hardware=r["hardware_id"],
                    n_accelerators=int(r["n_accelerators"] or 0),
                    tp=int(r["tp"] or 0),
                    weight_dtype=r["weight_dtype"],
                    kv_dtype=r["kv_dtype"],
                    stack=r["stack"],
                    prefill=r["prefill"],
                    round=r["round"],
                    scenario=r["scenario"],
                    input_tokens=int(r["input_tokens"] or 0),
                    output_tokens=int(r["output_tokens"] or 0),
                    ttft_s=_num(r["ttft_limit_s"]),
                    tpot_s=_num(r["tpot_limit_s"]),
                    measured=float(r["measured_tokens_per_s_per_accelerator"] or "nan"),
                    p99_ttft_s=_num(r["p99_ttft_s"]),
                    p99_tpot_s=_num(r["p99_tpot_s"]),
                    submitter=r["submitter"],
                    system=r["system"],
                    note=r["note"],
                )
            )
    return rows


def tp_candidates(row: Row) -> tuple[int, ...]:
    """Return the tensor-parallel degrees to try: the stated one, else those within the node."""
    if row.tp:
        return (row.tp,)
    limit = max(row.n_accelerators, 1)
    return tuple(t for t in TP_CHOICES if t <= limit) or (1,)


class Evaluator:
    """Evaluate fleetsim's physics for calibration rows on efficiency grids (kernel calls)."""

    def __init__(self) -> None:
        self.catalog = catalog.load()
        self.slot = {spec.key: i for i, spec in enumerate(FIELDS)}
        self.inputs = {
            "offline": self._inputs(["workload=offline"]),
            "server": self._inputs(["workload=chat"]),
        }
        self.hardware_ids = self.catalog.tables["hardware"].ids
        self.outputs = {name: i for i, name in enumerate(layout.SCENARIO_OUTPUTS)}

    def _inputs(self, overrides: list[str]) -> sweep.KernelInputs:
        cfg = api.compose(overrides)
        scenario = config.validate(cfg, self.catalog.ids())
        return sweep.kernel_inputs(scenario, self.catalog, axes.build(scenario))

    def _value(self, key: str, value) -> float:
        if value is None:
            return math.inf
        return axes.kernel_value(FIELD_BY_KEY[key], value, self.catalog)

    def default_overhead(self) -> float:
        """Return the per-step overhead of conf/deployment/default.yaml. [s]"""
        return float(self.inputs["offline"].base[self.slot["deployment.step_overhead_s"]])

    def catalog_efficiency(self, hardware: str) -> tuple[float, float]:
        """Return the catalog's (eta_c, eta_m) of an accelerator."""
        row = self.inputs["offline"].hardware[self.hardware_ids.index(hardware)]
        return float(row[layout.H_ETA_C]), float(row[layout.H_ETA_M])

    def run(
        self, row: Row, efficiencies: np.ndarray, overheads: Sequence[float]
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
        """Run the kernel for one row over (efficiency pair x TP x overhead).

        Returns the scenario outputs, shape (pairs, TP, overheads, outputs), the status codes
        and the TP degrees tried.
        """
        kind = "server" if row.scenario == "server" else "offline"
        inputs = self.inputs[kind]
        base = inputs.base.copy()
        values = {
            "model": row.model,
            "deployment.weight_dtype": row.weight_dtype,
            "deployment.kv_dtype": row.kv_dtype,
            "deployment.prefill": row.prefill,
            "workload.input_tokens": row.input_tokens,
            "workload.output_tokens": row.output_tokens,
        }
        if kind == "server":
            values["workload.ttft_slo_s"] = row.ttft_s
            values["workload.tpot_slo_s"] = row.tpot_s
        for key, value in values.items():
            base[self.slot[key]] = self._value(key, value)
        hardware = inputs.hardware[self.hardware_ids.index(row.hardware)]
        table = np.repeat(hardware[None, :], len(efficiencies), axis=0)
        table[:, layout.H_ETA_C] = efficiencies[:, 0]
        table[:, layout.H_ETA_M] = efficiencies[:, 1]
        tps = tp_candidates(row)
        swept = {
            "hardware": np.arange(len(efficiencies), dtype=np.float64),
            "deployment.tp": np.array(tps, dtype=np.float64),
            "deployment.step_overhead_s": np.array(overheads, dtype=np.float64),
        }
        lengths = np.array([len(v) for v in swept.values()], dtype=np.int64)
        grid = dataclasses.replace(
            inputs,
            base=base,
            axis_param=np.array([self.slot[k] for k in swept], dtype=np.int64),
            axis_offset=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
            axis_length=lengths,
            axis_values=np.ascontiguousarray(np.concatenate(list(swept.values()))),
            hardware=np.ascontiguousarray(table),
        )
        out, _, status = sweep.evaluate_range(grid, 1, 0, int(np.prod(lengths)))
        shape = (len(efficiencies), len(tps), len(overheads))
        return out.reshape(*shape, -1), status.reshape(shape), tps

    def predict(
        self, row: Row, efficiencies: np.ndarray, overheads: Sequence[float] = (0.0,)
    ) -> np.ndarray:
        """Return predicted tokens/s per accelerator, best over TP, shape (pairs, overheads).

        Offline rows: ``max_tokens_per_s_per_accelerator`` (no latency bound). Server rows:
        ``tokens_per_s_per_accelerator x target_utilisation`` with the row's TTFT/TPOT limits and
        the chat workload's utilisation ceiling, i.e. the sustained load fleetsim plans a replica
        for. NaN where no TP degree is feasible.
        """
        out, status, _ = self.run(row, efficiencies, overheads)
        value = self._throughput(row, out, status)
        best = np.where(np.isnan(value), -np.inf, value).max(axis=1)
        return np.where(np.isfinite(best), best, np.nan)

    def _throughput(self, row: Row, out: np.ndarray, status: np.ndarray) -> np.ndarray:
        if row.scenario == "server":
            value = (
                out[..., self.outputs["tokens_per_s_per_accelerator"]]
                * out[..., self.outputs["target_utilisation"]]
            )
        else:
            value = out[..., self.outputs["max_tokens_per_s_per_accelerator"]]
        return np.where(status == 0, value, np.nan)

    def operating_point(self, row: Row, eta: tuple[float, float], overhead: float) -> dict:
        """Return the best-TP operating point of one row (throughput, TP, batch, TTFT, TPOT)."""
        out, status, tps = self.run(row, np.array([eta]), (overhead,))
        value = self._throughput(row, out, status)[0, :, 0]
        if np.all(np.isnan(value)):
            return {
                "tokens": math.nan,
                "tp": 0,
                "batch": math.nan,
                "ttft": math.nan,
                "tpot": math.nan,
            }
        k = int(np.nanargmax(value))
        o = out[0, k, 0]
        return {
            "tokens": float(value[k]),
            "tp": tps[k],
            "batch": float(o[self.outputs["batch_size"]]),
            "ttft": float(o[self.outputs["ttft_s"]]),
            "tpot": float(o[self.outputs["tpot_s"]]),
        }

    def grid_tables(
        self, rows: Sequence[Row], overheads: Sequence[float] = OVERHEADS
    ) -> np.ndarray:
        """Return log predictions on the ETA_C x ETA_M x overheads grid, shape (rows, C, M, O)."""
        cc, mm = np.meshgrid(ETA_C, ETA_M, indexing="ij")
        pairs = np.column_stack([cc.ravel(), mm.ravel()])
        tables = np.empty((len(rows), len(ETA_C), len(ETA_M), len(overheads)))
        for i, row in enumerate(rows):
            with np.errstate(divide="ignore", invalid="ignore"):
                pred = np.log(self.predict(row, pairs, overheads))
            tables[i] = np.where(np.isfinite(pred), pred, np.nan).reshape(tables.shape[1:])
        return tables


# --------------------------------------------------------------------------- fitting
@dataclasses.dataclass(frozen=True)
class Fit:
    """A fitted efficiency model: grid indices per family, shifts per accelerator, overhead."""

    overheads: tuple[float, ...]
    overhead_index: int
    family: dict[str, tuple[int, int]]
    shift: dict[str, int]
    loss: float

    @property
    def overhead(self) -> float:
        """The fitted per-step overhead. [s]"""
        return self.overheads[self.overhead_index]

    def source(self, hardware: str) -> str | None:
        """Return the fitted family an accelerator's pair comes from (None: the mean of all)."""
        family = FAMILY[hardware]
        while family is not None and family not in self.family:
            family = FALLBACK[family]
        return family

    def indices(self, hardware: str) -> tuple[int, int]:
        """Return an accelerator's (eta_c, eta_m) grid indices."""
        family = self.source(hardware)
        if family is None:
            ic = round(float(np.mean([v[0] for v in self.family.values()])))
            im = round(float(np.mean([v[1] for v in self.family.values()])))
        else:
            ic, im = self.family[family]
        k = self.shift.get(hardware, 0)
        return int(_clip_c(ic + k)), int(_clip_m(im + k))

    def efficiency(self, hardware: str) -> tuple[float, float]:
        """Return an accelerator's fitted (eta_c, eta_m), rounded as written to the catalog."""
        ic, im = self.indices(hardware)
        return round(float(ETA_C[ic]), 3), round(float(ETA_M[im]), 3)


def _clip_c(index):
    return np.clip(index, 0, len(ETA_C) - 1)


def _clip_m(index):
    return np.clip(index, 0, len(ETA_M) - 1)


def _family_loss(tables, measured, shifts) -> np.ndarray:
    """Return summed |log pred - log meas| over the family grid, rows shifted by their scale."""
    ic = _clip_c(np.arange(len(ETA_C))[None, :] + shifts[:, None])
    im = _clip_m(np.arange(len(ETA_M))[None, :] + shifts[:, None])
    r = np.arange(len(shifts))[:, None, None]
    err = np.abs(tables[r, ic[:, :, None], im[:, None, :]] - measured[:, None, None])
    return np.where(np.isnan(err), INFEASIBLE, err).sum(axis=0)


def fit(
    tables: np.ndarray,
    rows: Sequence[Row],
    train: np.ndarray | None = None,
    overheads: Sequence[float] = OVERHEADS,
) -> Fit:
    """Fit the hierarchical efficiency model on the rows where ``train`` is True.

    Parameters
    ----------
    tables : ndarray
        Log predictions from :meth:`Evaluator.grid_tables`, shape (rows, C, M, overheads).
    rows : sequence of Row
        The calibration rows of ``tables``.
    train : ndarray of bool, optional
        Rows to fit on (default all).
    overheads : sequence of float
        The per-step overheads of the tables' last axis. [s]

    Returns
    -------
    Fit
        For each overhead, coordinate descent over the families' grid pairs and the
        accelerators' shifts; the overhead with the lowest penalised loss wins.
    """
    train = np.ones(len(rows), bool) if train is None else np.asarray(train, bool)
    idx = np.flatnonzero(train)
    measured = np.log([rows[i].measured for i in idx])
    hardware = np.array([rows[i].hardware for i in idx])
    family_of = np.array([rows[i].family for i in idx])
    systems: dict[str, set] = {}
    for i in idx:
        systems.setdefault(rows[i].hardware, set()).add(rows[i].system)
    scaled = sorted(h for h, s in systems.items() if len(s) >= MIN_SYSTEMS)
    families = sorted(set(family_of), key=lambda f: (f != REFERENCE_FAMILY, f))
    log_ratio = np.log(ETA_M)[None, :] - np.log(ETA_C)[:, None]
    shifts_tried = np.arange(-MAX_SHIFT, MAX_SHIFT + 1)
    shift_penalty = SCALE_PENALTY * (shifts_tried * np.log(GRID_RATIO)) ** 2
    best = None
    for k_o in range(len(overheads)):
        tab = tables[idx, :, :, k_o]
        family = {f: (len(ETA_C) // 2, len(ETA_M) // 2) for f in families}
        shift = dict.fromkeys(scaled, 0)
        for _ in range(20):
            before = (dict(family), dict(shift))
            ref_ratio = None
            for f in families:
                sel = family_of == f
                shifts = np.array([shift.get(h, 0) for h in hardware[sel]])
                loss = _family_loss(tab[sel], measured[sel], shifts)
                if f != REFERENCE_FAMILY and ref_ratio is not None:
                    loss = loss + SHAPE_PENALTY * (log_ratio - ref_ratio) ** 2
                family[f] = tuple(int(v) for v in np.unravel_index(np.argmin(loss), loss.shape))
                if f == REFERENCE_FAMILY:
                    ref_ratio = log_ratio[family[f]]
            for h in scaled:
                sel = hardware == h
                ic, im = family[FAMILY[h]]
                err = np.abs(
                    tab[sel][:, _clip_c(ic + shifts_tried), _clip_m(im + shifts_tried)]
                    - measured[sel][:, None]
                )
                loss = np.where(np.isnan(err), INFEASIBLE, err).sum(axis=0) + shift_penalty
                shift[h] = int(shifts_tried[np.argmin(loss)])
            if (family, shift) == before:
                break
        total = _penalised_loss(tab, measured, hardware, family, shift, log_ratio)
        if best is None or total < best.loss - 1e-12:
            best = Fit(tuple(overheads), k_o, family, shift, total)
    return best


def _penalised_loss(tab, measured, hardware, family, shift, log_ratio) -> float:
    ic = np.array([_clip_c(family[FAMILY[h]][0] + shift.get(h, 0)) for h in hardware])
    im = np.array([_clip_m(family[FAMILY[h]][1] + shift.get(h, 0)) for h in hardware])
    err = np.abs(tab[np.arange(len(hardware)), ic, im] - measured)
    total = float(np.where(np.isnan(err), INFEASIBLE, err).sum())
    total += sum(SCALE_PENALTY * (k * np.log(GRID_RATIO)) ** 2 for k in shift.values())
    if REFERENCE_FAMILY in family:
        ref = log_ratio[family[REFERENCE_FAMILY]]
        total += sum(
            SHAPE_PENALTY * (log_ratio[v] - ref) ** 2
            for f, v in family.items()
            if f != REFERENCE_FAMILY
        )
    return total


def predict_log(fit_: Fit, tables: np.ndarray, rows: Sequence[Row]) -> np.ndarray:
    """Return a fit's log predictions for ``rows`` from their grid tables."""
    out = np.empty(len(rows))
    for i, row in enumerate(rows):
        ic, im = fit_.indices(row.hardware)
        out[i] = tables[i, ic, im, fit_.overhead_index]
    return out


def cross_validate(
    tables: np.ndarray,
    rows: Sequence[Row],
    group: str = "system",
    overheads: Sequence[float] = OVERHEADS,
) -> np.ndarray:
    """Leave one group out: refit without the group's rows, predict them; return log predictions.

    ``group`` is a :class:`Row` attribute: ``"system"`` (one submission: submitter, platform,
    round) or ``"hardware"`` (every row of the accelerator held out together).
    """
    keys = [getattr(r, group) for r in rows]
    out = np.empty(len(rows))
    for key in dict.fromkeys(keys):
        held = np.array([k == key for k in keys])
        fitted = fit(tables, rows, ~held, overheads)
        out[held] = predict_log(
            fitted, tables[held], [r for r, h in zip(rows, held, strict=True) if h]
        )
    return out


# --------------------------------------------------------------------------- writing
def _note(fit_: Fit, hardware: str, rows: Sequence[Row]) -> tuple[str, str]:
    """Return (kind, note) of an accelerator's efficiency rows."""
    family = fit_.source(hardware)
    own = [r.id for r in rows if r.hardware == hardware]
    members = [r.id for r in rows if family is not None and r.family == family]
    method = (
        f"min sum |log error| on a {100 * (GRID_RATIO - 1):.0f} % grid, eta_m <= "
        f"{BANDWIDTH_CEILING}, step overhead {1e3 * fit_.overhead:g} ms"
    )
    if own:
        k = fit_.shift.get(hardware)
        scale = (
            f"family {family} pair x own scale {GRID_RATIO**k:.3f}"
            if k is not None
            else f"family {family} pair (measured on one system: no own scale)"
        )
        return (
            "fitted",
            f"fit: scripts/fit_efficiency.py, rows {','.join(members)}; {scale}; {method}",
        )
    origin = family or "geometric mean of the fitted families"
    return (
        "assumption",
        f"no measurement: pair of the {origin} fit (scripts/fit_efficiency.py, rows "
        f"{','.join(members) or 'all'}) for family {FAMILY[hardware]}; {method}",
    )


def hardware_csv_text(fit_: Fit, rows: Sequence[Row], text: str) -> str:
    """Return data/hardware.csv's text with every efficiency row replaced by the fit's."""
    lines = text.splitlines(keepends=True)
    out = []
    for line in lines:
        fields = next(csv.reader([line]))
        if len(fields) > 1 and fields[1] in ("compute_efficiency", "bandwidth_efficiency"):
            hardware, parameter = fields[0], fields[1]
            eta_c, eta_m = fit_.efficiency(hardware)
            kind, note = _note(fit_, hardware, rows)
            value = eta_c if parameter == "compute_efficiency" else eta_m
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerow(
                [hardware, parameter, f"{value:.3f}", "1", SOURCE_ID, AS_OF, kind, "", note]
            )
            out.append(buffer.getvalue())
        else:
            out.append(line)
    return "".join(out)


def deployment_yaml_text(overhead: float, text: str) -> str:
    """Return conf/deployment/default.yaml's text with the fitted step overhead."""
    prefix = f"step_overhead_s: {overhead:g}"
    line = (
        prefix.ljust(27)
        + "# fitted per-decode-step cost (scheduling, sampling, launches): scripts/fit_efficiency.py"
        + " on data/calibration.csv"
    )
    return re.sub(r"^step_overhead_s:.*$", line, text, count=1, flags=re.MULTILINE)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fit and print; write nothing")
    args = parser.parse_args(argv)
    rows = load_rows()
    evaluator = Evaluator()
    tables = evaluator.grid_tables(rows)
    fitted = fit(tables, rows)
    measured = np.log([r.measured for r in rows])
    errors = 100 * (np.exp(predict_log(fitted, tables, rows) - measured) - 1)
    print(f"{len(rows)} covered rows; step overhead {1e3 * fitted.overhead:g} ms")
    for hardware in sorted(FAMILY):
        eta_c, eta_m = fitted.efficiency(hardware)
        kind, _ = _note(fitted, hardware, rows)
        print(
            f"  {hardware:10s} eta_c {eta_c:.3f}  eta_m {eta_m:.3f}  {kind:10s} {fitted.source(hardware)}"
        )
    print(
        f"in-sample |error|: median {np.median(np.abs(errors)):.1f} %, worst {np.abs(errors).max():.1f} %"
    )
    if args.check:
        return 0
    hardware_text = hardware_csv_text(fitted, rows, HARDWARE_CSV.read_text())
    HARDWARE_CSV.write_text(hardware_text)
    DEPLOYMENT_YAML.write_text(deployment_yaml_text(fitted.overhead, DEPLOYMENT_YAML.read_text()))
    print(f"wrote {HARDWARE_CSV.relative_to(ROOT)} and {DEPLOYMENT_YAML.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

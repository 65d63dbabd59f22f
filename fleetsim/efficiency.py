"""Software stacks as data: efficiency scales per (accelerator x serving engine x model class).

``data/efficiency.csv`` holds one ``efficiency_scale`` per accelerator, serving engine and model
class: the factor by which that engine's achieved fraction of peak (compute and bandwidth alike)
differs from the accelerator's own pair in ``data/hardware.csv``, which stands for the vendor's
engine on dense models (scale 1 by construction). ``scripts/fit_efficiency.py`` writes the table:
``fitted`` where calibration rows of that engine / class exist (the note names them and
``stack_version`` the software they ran), ``assumption`` elsewhere. The engine ``vendor`` repeats
each accelerator's vendor engine (TensorRT-LLM on NVIDIA, vLLM on AMD, SynapseAI on Gaudi), so
``deployment.engine=vendor`` selects it without knowing the vendor.

An engine that does not run on an accelerator (TensorRT-LLM on AMD) has no rows; its scale is NaN.
A catalog folder without ``efficiency.csv`` (e.g. a user's own) has the vendor engine only, at
scale 1: the accelerators' own pairs, as before engines were data.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from fleetsim.errors import CatalogError

#: serving engines the table may name, ``vendor`` first (its index is 0)
ENGINES: tuple[str, ...] = ("vendor", "trtllm", "vllm", "sglang", "llmboost", "synapseai")
#: model classes: MLA attention (DeepSeek-V3/R1, also MoE), mixture of experts, dense
MODEL_CLASSES: tuple[str, ...] = ("dense", "moe", "mla")
COLUMNS: tuple[str, ...] = (
    "hardware_id", "engine", "model_class", "parameter", "value", "unit", "source_id", "as_of",
    "kind", "stack_version", "note",
)  # fmt: skip
KINDS = frozenset({"fitted", "assumption", "derived"})
#: largest achievable fraction of memory bandwidth (what a streaming kernel reaches: 7.35 of
#: 8.0 TB/s on Azure ND GB200 v6, source ``azure_gb200_microbench``): fitted pairs stop there, and a
#: scale never lifts a pair above it
BANDWIDTH_CEILING = 0.92
#: bounds of a scale (a factor on the accelerator's fitted fractions of peak)
SCALE_BOUNDS = (0.05, 20.0)
FILE = "efficiency.csv"
#: the kernel's hardware columns holding the scales, engine-major (``sweep.kernel_inputs`` appends
#: them to the hardware table; ``layout.H_SCALE`` is the first)
SCALE_COLUMNS: tuple[str, ...] = tuple(
    f"efficiency_scale_{engine}_{cls}" for engine in ENGINES for cls in MODEL_CLASSES
)


def model_class(entry: dict) -> str:
    """Return a model's class from its catalog entry: ``mla``, ``moe`` or ``dense``."""
    if entry.get("attention_kind") == "mla":
        return "mla"
    return "moe" if entry.get("moe_experts", 0.0) else "dense"


def load_scales(
    directory: Path, hardware_ids: tuple[str, ...], sources: dict[str, dict]
) -> np.ndarray:
    """Read ``efficiency.csv``: scales of shape (hardware, ENGINES, MODEL_CLASSES), NaN if absent.

    Raises
    ------
    CatalogError
        Naming the line and field: a wrong header, an unknown hardware id, engine, class, source
        or kind, a value outside SCALE_BOUNDS, a repeated cell, or an accelerator without its
        ``vendor`` rows for every class.
    """
    path = Path(directory) / FILE
    scales = np.full((len(hardware_ids), len(ENGINES), len(MODEL_CLASSES)), np.nan)
    if not path.exists():
        scales[:, 0, :] = 1.0
        return scales
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != COLUMNS:
                raise CatalogError(f"{FILE}:1", f"header must be {','.join(COLUMNS)}")
            for row in reader:
                _read_row(f"{FILE}:{reader.line_num}", row, hardware_ids, sources, scales)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise CatalogError(str(path), f"cannot read the file ({error})") from None
    for h, hardware in enumerate(hardware_ids):
        missing = [c for k, c in enumerate(MODEL_CLASSES) if math.isnan(scales[h, 0, k])]
        if missing:
            raise CatalogError(
                FILE, f"{hardware}: engine vendor needs a row for every class; missing {missing}"
            )
    return scales


def _read_row(where: str, row: dict, hardware_ids, sources, scales: np.ndarray) -> None:
    if None in row or None in row.values():
        raise CatalogError(where, f"expected {len(COLUMNS)} columns ({','.join(COLUMNS)})")
    choices = {
        "hardware_id": hardware_ids,
        "engine": ENGINES,
        "model_class": MODEL_CLASSES,
        "parameter": ("efficiency_scale",),
        "unit": ("1",),
        "kind": tuple(sorted(KINDS)),
        "source_id": tuple(sources),
    }
    for column, allowed in choices.items():
        if row[column] not in allowed:
            shown = ", ".join(allowed) if len(allowed) <= 20 else "an id of sources.csv"
            raise CatalogError(where, f"{column} {row[column]!r}: expected one of {shown}")
    try:
        value = float(row["value"])
    except ValueError:
        raise CatalogError(where, f"value {row['value']!r} is not a number") from None
    low, high = SCALE_BOUNDS
    if not low <= value <= high:
        raise CatalogError(where, f"value {value:g} outside [{low:g}, {high:g}]")
    index = (
        hardware_ids.index(row["hardware_id"]),
        ENGINES.index(row["engine"]),
        MODEL_CLASSES.index(row["model_class"]),
    )
    if not math.isnan(scales[index]):
        raise CatalogError(
            where,
            f"{row['hardware_id']}/{row['engine']}/{row['model_class']} is repeated",
        )
    scales[index] = value

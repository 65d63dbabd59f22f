"""data/efficiency.csv: serving-engine and model-class scales, loaded by fleetsim.catalog."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from fleetsim import catalog, efficiency, paths
from fleetsim.errors import CatalogError

REAL = paths._builtin_data_dir()
TINY = Path(__file__).parent / "data" / "catalog"


def test_model_classes_follow_the_architecture():
    cat = catalog.load(REAL)
    classes = dict(zip(cat.tables["models"].ids, cat.model_classes, strict=True))
    assert classes["llama2-70b"] == "dense"
    assert classes["mixtral-8x7b"] == "moe"
    assert classes["deepseek-r1"] == "mla"  # MLA attention over MoE layers
    assert efficiency.model_class({"attention_kind": "gqa", "moe_experts": 0.0}) == "dense"


def test_real_table_has_the_vendor_engine_at_one_for_dense_models():
    cat = catalog.load(REAL)
    hardware = cat.tables["hardware"].ids
    scales = cat.engine_scale
    assert scales.shape == (len(hardware), len(efficiency.ENGINES), len(efficiency.MODEL_CLASSES))
    dense = efficiency.MODEL_CLASSES.index("dense")
    assert np.all(scales[:, 0, dense] == 1.0)
    assert np.all(np.isfinite(scales[:, 0, :]))
    # vendor repeats the vendor's engine; an engine that does not run on the part is NaN
    h100, mi300x = hardware.index("h100-sxm"), hardware.index("mi300x")
    trtllm, vllm = efficiency.ENGINES.index("trtllm"), efficiency.ENGINES.index("vllm")
    assert np.array_equal(scales[h100, 0], scales[h100, trtllm])
    assert np.array_equal(scales[mi300x, 0], scales[mi300x, vllm])
    assert np.all(np.isnan(scales[mi300x, trtllm]))


def test_real_rows_carry_kind_versions_and_notes():
    with (REAL / "efficiency.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    kinds = {r["kind"] for r in rows}
    assert "fitted" in kinds
    assert "assumption" in kinds
    for r in rows:
        if r["kind"] == "fitted":
            assert "scripts/fit_efficiency.py" in r["note"], r
            assert r["stack_version"], r
        if r["kind"] == "assumption":
            assert "taken as" in r["note"], r
        if r["kind"] == "derived":
            assert float(r["value"]) == 1.0, r
            assert r["model_class"] == "dense", r


def test_a_folder_without_the_table_has_the_vendor_engine_only(tmp_path):
    folder = tmp_path / "catalog"
    shutil.copytree(TINY, folder)
    (folder / efficiency.FILE).unlink(missing_ok=True)
    cat = catalog.load(folder)
    assert np.all(cat.engine_scale[:, 0, :] == 1.0)
    assert np.all(np.isnan(cat.engine_scale[:, 1:, :]))


def _write(folder: Path, rows: list[list[str]]) -> None:
    with (folder / efficiency.FILE).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(efficiency.COLUMNS)
        writer.writerows(rows)


def _row(hardware, engine="vendor", klass="dense", value="1.0", **changes) -> list[str]:
    row = dict(
        zip(
            efficiency.COLUMNS,
            [hardware, engine, klass, "efficiency_scale", value, "1", "test_fixture", "2025",
             "derived", "", "fixture"],
            strict=True,
        )
    )  # fmt: skip
    row.update(changes)
    return list(row.values())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"engine": "tgi"}, "engine 'tgi': expected one of vendor, trtllm"),
        ({"model_class": "ssm"}, "model_class 'ssm'"),
        ({"value": "0"}, "value 0 outside [0.05, 20]"),
        ({"value": "fast"}, "value 'fast' is not a number"),
        ({"source_id": "nowhere"}, "source_id 'nowhere'"),
        ({"kind": "guess"}, "kind 'guess'"),
    ],
)
def test_bad_rows_name_the_line_and_field(tmp_path, change, message):
    folder = tmp_path / "catalog"
    shutil.copytree(TINY, folder)
    ids = catalog.load(folder).tables["hardware"].ids
    catalog.load.cache_clear()
    good = [_row(h, klass=c) for h in ids for c in efficiency.MODEL_CLASSES]
    _write(folder, [*good, _row(ids[0], **({"engine": "vllm"} | change))])
    with pytest.raises(CatalogError, match="efficiency.csv:") as error:
        catalog.load(folder)
    assert message in str(error.value)
    assert f":{len(good) + 2}" in str(error.value)


def test_missing_vendor_rows_and_repeats_are_errors(tmp_path):
    folder = tmp_path / "catalog"
    shutil.copytree(TINY, folder)
    ids = catalog.load(folder).tables["hardware"].ids
    catalog.load.cache_clear()
    _write(folder, [_row(h) for h in ids])
    with pytest.raises(CatalogError, match=r"engine vendor needs a row for every class"):
        catalog.load(folder)
    catalog.load.cache_clear()
    rows = [_row(h, klass=c) for h in ids for c in efficiency.MODEL_CLASSES]
    _write(folder, [*rows, rows[0]])
    with pytest.raises(CatalogError, match="is repeated"):
        catalog.load(folder)
    catalog.load.cache_clear()
    _write(folder, rows)
    assert not math.isnan(catalog.load(folder).engine_scale[0, 0, 2])

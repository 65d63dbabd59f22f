"""Catalogs: the real catalog loads and is fully sourced; each hand-broken catalog raises one
CatalogError (an InputError) naming file:line, id, parameter and value."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fleetsim
from fleetsim import catalog, paths
from fleetsim.errors import CatalogError

TINY = Path(__file__).parent / "data" / "catalog"
REAL = paths._builtin_data_dir()


def test_real_catalog_loads():
    loaded = catalog.load(REAL)
    assert set(loaded.tables) == set(catalog.TABLES)
    for name, table in loaded.tables.items():
        assert table.values.shape == (len(table.ids), len(table.columns)), name
        assert table.values.flags.c_contiguous
        unknown = [c for c in ("price_purchase", "server_price") if name == "hardware"]
        known = [j for j, c in enumerate(table.columns) if c not in unknown]
        assert np.isfinite(table.values[:, known]).all(), name
        # an unknown price is NaN, never 0 (a part without a price must not look free)
        for column in unknown:
            assert (table.column(column)[np.isnan(table.column(column))] != 0).all()
        assert len(set(table.ids)) == len(table.ids)
    assert {"h100-sxm", "l4"} <= set(loaded.tables["hardware"].ids)
    assert {"llama3.1-70b", "deepseek-v3"} <= set(loaded.tables["models"].ids)
    assert re.fullmatch(r"[0-9a-f]{64}", loaded.sha256)


def test_every_real_row_has_a_resolvable_source():
    with (REAL / "sources.csv").open(newline="", encoding="utf-8") as handle:
        sources = {row["source_id"]: row for row in csv.DictReader(handle)}
    assert sources
    for source in sources.values():
        assert source["title"], source
        assert source["url"], source
    rows = 0
    for name in catalog.TABLES:
        with (REAL / f"{name}.csv").open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                rows += 1
                assert row["source_id"] in sources, (name, row)
    assert rows > 100


def test_checksum_is_stable_and_sensitive(tmp_path):
    shutil.copytree(TINY, tmp_path / "a")
    shutil.copytree(TINY, tmp_path / "b")
    assert catalog.load(tmp_path / "a").sha256 == catalog.load(tmp_path / "b").sha256
    path = tmp_path / "b" / "cooling.csv"
    path.write_text(path.read_text().replace("air,pue,1.5", "air,pue,1.4"))
    catalog.load.cache_clear()
    assert catalog.load(tmp_path / "a").sha256 != catalog.load(tmp_path / "b").sha256


# --------------------------------------------------------------------------- broken catalogs
def _edit(folder: Path, name: str, prefix: str, replacement: str | None) -> int:
    """Replace (or delete, for None) the first line of ``name`` starting with ``prefix``.

    Returns the 1-based line number of the edited line.
    """
    path = folder / name
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    number = next(i for i, line in enumerate(lines) if line.startswith(prefix))
    if replacement is None:
        del lines[number]
    else:
        lines[number] = replacement + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    return number + 1


def _line(folder: Path, name: str, prefix: str) -> str:
    return next(
        line.rstrip("\n")
        for line in (folder / name).read_text().splitlines()
        if line.startswith(prefix)
    )


def _sub(prefix: str, old: str, new: str):
    """An edit replacing ``old`` by ``new`` in the line starting with ``prefix``."""

    def edit(folder: Path, name: str) -> int:
        return _edit(folder, name, prefix, _line(folder, name, prefix).replace(old, new, 1))

    return edit


def _delete(prefix: str):
    def edit(folder: Path, name: str) -> int:
        _edit(folder, name, prefix, None)
        return 0

    return edit


def _duplicate(prefix: str):
    def edit(folder: Path, name: str) -> int:
        line = _line(folder, name, prefix)
        number = _edit(folder, name, prefix, line + "\n" + line)
        return number + 1

    return edit


def _raw(content: bytes):
    def edit(folder: Path, name: str) -> int:
        (folder / name).write_bytes(content)
        return 0

    return edit


def _blank_after(prefix: str):
    def edit(folder: Path, name: str) -> int:
        return _edit(folder, name, prefix, _line(folder, name, prefix) + "\n") + 1

    return edit


def _quotes(first: str, second: str):
    """Two stray quotes: the field between them would swallow a row (and its value)."""

    def edit(folder: Path, name: str) -> int:
        line = _edit(
            folder, name, first, _line(folder, name, first).replace(",test value", ',"test')
        )
        _edit(folder, name, second, _line(folder, name, second).replace(",test value", ',value"'))
        return line + 1

    return edit


G = "test-gpu,"
HEADER = "hardware_id,parameter,value,unit,source_id,as_of,kind,currency_year,note\n"

#: (id, file, edit, expected fragments in order; "{line}" is replaced by the edited line)
BROKEN = [
    ("unknown-parameter", "hardware.csv", _sub(G + "tdp,", "tdp", "tdpp"),
     ["hardware.csv:{line}", "test-gpu", "unknown parameter 'tdpp'", "allowed:", "tdp"]),
    ("bad-unit", "hardware.csv", _sub(G + "tdp,", ",W,", ",Watt,"),
     ["hardware.csv:{line}", "tdp='700'", "'Watt'", "unknown unit"]),
    ("unit-of-wrong-quantity", "hardware.csv", _sub(G + "hbm_capacity,", ",GB,", ",GB/s,"),
     ["hardware.csv:{line}", "hbm_capacity='80'", "'GB/s'", "measures B/s, expected B"]),
    ("out-of-bounds", "hardware.csv", _sub(G + "tdp,", ",700,", ",700000,"),
     ["hardware.csv:{line}", "tdp=700000 W", "allowed [10, 5000] W"]),
    ("not-a-number", "hardware.csv", _sub(G + "tdp,", ",700,", ",seven hundred,"),
     ["hardware.csv:{line}", "tdp: value 'seven hundred' is not a plain number"]),
    ("nan", "hardware.csv", _sub(G + "tdp,", ",700,", ",nan,"),
     ["hardware.csv:{line}", "tdp: value 'nan' is not a plain number"]),
    ("underscore-separator", "hardware.csv", _sub(G + "tdp,", ",700,", ",7_00,"),
     ["hardware.csv:{line}", "tdp: value '7_00' is not a plain number", "no spaces, '_'"]),
    ("comma-separator", "hardware.csv", _sub(G + "tdp,", ",700,", ',"1,000",'),
     ["hardware.csv:{line}", "tdp: value '1,000' is not a plain number"]),
    ("padded-value", "hardware.csv", _sub(G + "tdp,", ",700,", ", 700,"),
     ["hardware.csv:{line}", "value: leading or trailing spaces in ' 700'"]),
    ("padded-unit", "hardware.csv", _sub(G + "tdp,", ",W,", ",W ,"),
     ["hardware.csv:{line}", "unit: leading or trailing spaces in 'W '"]),
    ("nul-byte", "hardware.csv", _sub(G + "tdp,", ",700,", ",70\x000,"),
     ["hardware.csv:{line}", "a NUL byte"]),
    ("mixed-line-endings", "hardware.csv", _sub(G + "tdp,", ",test value", ",test value\r"),
     ["hardware.csv", "mixed line endings (1 CRLF and"]),
    ("carriage-return", "hardware.csv", _sub(G + "tdp,", ",test value", ",test\rvalue"),
     ["hardware.csv:{line}", "a carriage return inside a line"]),
    ("blank-line", "hardware.csv", _blank_after(G + "tdp,"), ["hardware.csv:{line}", "a blank line"]),
    ("two-stray-quotes", "hardware.csv", _quotes(G + "tdp,", G + "idle_power,"),
     ["hardware.csv:{line}", "note: a quoted field spans lines (a stray quote?)"]),
    ("unbalanced-quote", "hardware.csv", _sub(G + "tdp,", ",test value", ',"test value'),
     ["hardware.csv:", "malformed CSV", "unexpected end of data"]),
    ("scale-up-domain", "hardware.csv", _sub(G + "scaleup_domain,", ",8,", ",100000,"),
     ["hardware.csv:{line}", "scaleup_domain=100000", "allowed [1, 1024]"]),
    ("not-whole", "models.csv", _sub("test-dense,layers,", ",10,", ",10.5,"),
     ["models.csv:{line}", "layers=10.5", "whole number"]),
    ("bad-category", "models.csv", _sub("test-dense,attention_kind,", ",gqa,", ",gqa2,"),
     ["models.csv:{line}", "attention_kind='gqa2'", "allowed: mha, gqa, mla"]),
    ("missing-required", "hardware.csv", _delete(G + "hbm_bandwidth,"),
     ["hardware.csv", "test-gpu", "missing required parameter(s) hbm_bandwidth"]),
    ("duplicate-row", "hardware.csv", _duplicate(G + "tdp,"),
     ["hardware.csv:{line}", "test-gpu", "parameter 'tdp' given twice"]),
    ("unresolved-source", "hardware.csv", _sub(G + "tdp,", "test_fixture", "nowhere"),
     ["hardware.csv:{line}", "tdp", "source_id 'nowhere' is not in sources.csv"]),
    ("bad-kind", "hardware.csv", _sub(G + "tdp,", "assumption", "guess"),
     ["hardware.csv:{line}", "tdp", "kind 'guess'", "allowed:"]),
    ("bad-date", "hardware.csv", _sub(G + "tdp,", "2026-11-21", "21/11/2026"),
     ["hardware.csv:{line}", "tdp", "as_of '21/11/2026'", "YYYY[-MM[-DD]]"]),
    ("money-without-currency-year", "hardware.csv", _sub(G + "price_purchase,", ",2026,", ",,"),
     ["hardware.csv:{line}", "price_purchase", "currency_year"]),
    ("bad-header", "hardware.csv", _sub("hardware_id,", "hardware_id", "gpu_id"),
     ["hardware.csv:1", "header must be hardware_id,parameter"]),
    ("bad-id-characters", "hardware.csv", _sub(G + "tdp,", "test-gpu", "Test_GPU"),
     ["hardware.csv:{line}", "'Test_GPU'", "lowercase letters, digits"]),
    ("short-row", "hardware.csv", _sub(G + "tdp,", ",test value", ""),
     ["hardware.csv:{line}", "expected 9 columns"]),
    ("long-row", "hardware.csv", _sub(G + "tdp,", ",test value", ",test value,extra"),
     ["hardware.csv:{line}", "expected 9 columns"]),
    ("mla-without-kv-lora-rank", "models.csv", _delete("test-mla,kv_lora_rank,"),
     ["models.csv", "test-mla", "mla needs kv_lora_rank"]),
    ("gqa-without-kv-heads", "models.csv", _delete("test-dense,n_kv_heads,"),
     ["models.csv", "test-dense", "gqa needs n_kv_heads"]),
    ("moe-experts-exceed-total", "models.csv", _sub("test-moe,moe_expert_ffn_dim,", "14336", "143360"),
     ["models.csv", "test-moe", "routed experts", "exceed total_params"]),
    ("moe-without-top-k", "models.csv", _delete("test-moe,moe_top_k,"),
     ["models.csv", "test-moe", "moe_experts=8 needs moe_top_k"]),
    ("active-exceeds-total", "models.csv", _sub("test-dense,active_params,", ",10,", ",20,"),
     ["models.csv", "test-dense", "active_params=2e+10 exceeds total_params=1e+10"]),
    ("top-k-exceeds-experts", "models.csv", _sub("test-moe,moe_top_k,", ",2,", ",9,"),
     ["models.csv", "test-moe", "moe_top_k=9 exceeds moe_experts=8"]),
    ("idle-exceeds-tdp", "hardware.csv", _sub(G + "idle_power,", ",100,", ",800,"),
     ["hardware.csv", "test-gpu", "idle_power=800 exceeds tdp=700"]),
    ("not-utf8", "cooling.csv", _raw(b"cooling_id,parameter\n\xff\xfe,\x80\n"),
     ["cooling.csv", "cannot read the file"]),
    ("header-only", "hardware.csv", _raw(HEADER.encode()),
     ["hardware.csv", "no rows"]),
    ("empty-file", "fabrics.csv", _raw(b""), ["fabrics.csv:1", "header must be"]),
    ("duplicate-source", "sources.csv", _duplicate("test_fixture,"),
     ["sources.csv:{line}", "'test_fixture' is empty or repeated"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "edit", "fragments"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_broken_catalog_raises_catalog_error(tmp_path, name, edit, fragments):
    folder = tmp_path / "catalog"
    shutil.copytree(TINY, folder)
    line = edit(folder, name)
    expected = [f.replace("{line}", str(line)) for f in fragments]
    with pytest.raises(CatalogError, match="(?s)" + ".*".join(map(re.escape, expected))) as info:
        catalog.load(folder)
    assert isinstance(info.value, fleetsim.InputError)
    assert "\n" not in str(info.value)


def test_at_least_twelve_broken_catalogs():
    assert len(BROKEN) >= 12


def test_missing_file_and_folder(tmp_path):
    folder = tmp_path / "catalog"
    shutil.copytree(TINY, folder)
    (folder / "cooling.csv").unlink()
    with pytest.raises(CatalogError, match="cooling.csv.*cannot read the file"):
        catalog.load(folder)
    with pytest.raises(CatalogError, match="not a catalog folder"):
        catalog.load(tmp_path / "nowhere")


def test_broken_catalog_through_api_and_cli(tmp_path, monkeypatch):
    folder = tmp_path / "catalog"
    shutil.copytree(TINY, folder)
    _sub(G + "tdp,", ",700,", ",-1,")(folder, "hardware.csv")
    monkeypatch.setenv("FLEETSIM_DATA_DIR", str(folder))
    catalog.load.cache_clear()
    try:
        with pytest.raises(fleetsim.InputError, match=r"hardware.csv:\d+: tdp=-1 W"):
            fleetsim.run(["model=test-dense", "hardware=test-gpu", "finance.years=2"])
    finally:
        catalog.load.cache_clear()
    result = subprocess.run(
        [sys.executable, "-m", "fleetsim", "model=test-dense", "hardware=test-gpu",
         f"hydra.run.dir={tmp_path}/run"],
        cwd=tmp_path, env=dict(os.environ), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("fleetsim: error: ")
    assert "hardware.csv:" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("label", "transform"),
    [
        ("bom", lambda b: b"\xef\xbb\xbf" + b),
        ("lf", lambda b: b.replace(b"\r\n", b"\n")),
        ("crlf", lambda b: b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")),
    ],
)
def test_a_bom_and_either_line_ending_are_read_alike(tmp_path, label, transform):
    folder = tmp_path / "catalog"
    shutil.copytree(TINY, folder)
    for path in folder.glob("*.csv"):
        path.write_bytes(transform(path.read_bytes()))
    loaded = catalog.load(folder)
    expected = catalog.load(TINY)
    for name, table in expected.tables.items():
        np.testing.assert_array_equal(loaded.tables[name].values, table.values)


def test_a_missing_price_is_nan_not_zero():
    loaded = catalog.load(REAL)
    hw = loaded.tables["hardware"]
    price = dict(zip(hw.ids, hw.column("price_purchase"), strict=True))
    assert np.isnan(price["h20"])  # no public H20 price: blank, not zero
    assert price["h100-sxm"] == 30000

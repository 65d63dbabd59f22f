"""``fleetsim catalog``: list the catalog's models and accelerators, or show one entry.

``fleetsim catalog list [models|hardware]`` prints one line per entry with its key figures and
sources; ``fleetsim catalog show ID`` prints every parameter of one entry with its unit, kind,
date and source (title and address). Both read the bundled catalog (or ``$FLEETSIM_DATA_DIR``),
so they work from an installed wheel.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from fleetsim import aliases, catalog, paths
from fleetsim.errors import InputError, one_line

USAGE = "usage: fleetsim catalog list [models|hardware] | fleetsim catalog show ID"
_FILES = {"models": "models.csv", "hardware": "hardware.csv"}


def _rows(table: str) -> dict[str, list[dict[str, str]]]:
    """Return id -> its CSV rows (parameter, value, unit, source, ...) of one table."""
    schema = catalog._schema(table)
    header = (schema["id_column"], *catalog.ROW_COLUMNS)
    out: dict[str, list[dict[str, str]]] = {}
    for _, row in catalog._read_csv(paths.data_dir() / _FILES[table], header):
        out.setdefault(row[schema["id_column"]], []).append(row)
    return out


def _fmt(value: float, scale: float = 1.0, digits: int = 0) -> str:
    if value != value:  # NaN: not known
        return "-"
    return f"{value / scale:,.{digits}f}" if value else "-"


def _models(loaded: catalog.Catalog) -> list[str]:
    t, labels, rows = loaded.tables["models"], loaded.labels.get("models", {}), _rows("models")
    lines = [
        f"{'id':18s} {'total B':>8s} {'active B':>8s} {'layers':>6s} {'attention':22s} "
        f"{'experts':>9s} {'context':>9s}  sources"
    ]
    for k, mid in enumerate(t.ids):
        m = dict(zip(t.columns, t.values[k], strict=True))
        attention = labels.get(mid, {}).get("attention_kind", "?")
        if m["attention_span"] and m["bounded_kv_kept"]:
            attention += f" sparse top-{m['attention_span']:.0f}"
        elif m["attention_span"]:
            attention += f" window {m['attention_span']:.0f}"
        experts = f"{m['moe_top_k']:.0f}/{m['moe_experts']:.0f}" if m["moe_experts"] else "dense"
        sources = ",".join(dict.fromkeys(r["source_id"] for r in rows.get(mid, [])))
        lines.append(
            f"{mid:18s} {m['total_params'] / 1e9:8.1f} {m['active_params'] / 1e9:8.1f} "
            f"{m['layers']:6.0f} {attention:22s} {experts:>9s} {m['max_context']:9.0f}  {sources}"
        )
    return lines


def _hardware(loaded: catalog.Catalog) -> list[str]:
    t, labels, rows = (
        loaded.tables["hardware"],
        loaded.labels.get("hardware", {}),
        _rows("hardware"),
    )
    lines = [
        f"{'id':13s} {'segment':10s} {'BF16 TF':>8s} {'FP8 TF':>7s} {'FP4 TF':>7s} {'mem GB':>6s} "
        f"{'TB/s':>5s} {'domain':>6s} {'TDP W':>6s} {'price $':>8s} {'rent $/h':>8s}  sources"
    ]
    for k, hid in enumerate(t.ids):
        h = dict(zip(t.columns, t.values[k], strict=True))
        sources = ",".join(dict.fromkeys(r["source_id"] for r in rows.get(hid, [])))
        lines.append(
            f"{hid:13s} {labels.get(hid, {}).get('segment', '-'):10s} "
            f"{_fmt(h['peak_flops_bf16'], 1e12):>8s} {_fmt(h['peak_flops_fp8'], 1e12):>7s} "
            f"{_fmt(h['peak_flops_fp4'], 1e12):>7s} {_fmt(h['hbm_capacity'], 1e9):>6s} "
            f"{_fmt(h['hbm_bandwidth'], 1e12, 2):>5s} {h['scaleup_domain']:6.0f} {h['tdp']:6.0f} "
            f"{_fmt(h['price_purchase']):>8s} {_fmt(h['rental_price'], 1 / 3600, 2):>8s}  {sources}"
        )
    return lines


def _show(loaded: catalog.Catalog, entry_id: str) -> list[str]:
    for table in ("models", "hardware"):
        if entry_id in loaded.tables[table].ids:
            lines = [f"{entry_id} ({table})"]
            for r in _rows(table)[entry_id]:
                lines.append(
                    f"  {r['parameter']:26s} {r['value']:>12s} {r['unit']:9s} {r['kind']:10s} "
                    f"{r['as_of']:10s} {r['source_id']}"
                )
                if r["note"]:
                    lines.append(f"      {r['note']}")
            cited = dict.fromkeys(r["source_id"] for r in _rows(table)[entry_id])
            lines.append("sources:")
            for sid in cited:
                s = loaded.sources[sid]
                lines.append(
                    f"  {sid}: {s['title']} ({s['publisher']}), {s['url']}, read {s['accessed']}"
                )
            return lines
    ids = (*loaded.tables["models"].ids, *loaded.tables["hardware"].ids)
    close = aliases.suggest(entry_id, ids)
    hint = f" (did you mean {close!r}?)" if close else ""
    raise InputError(
        f"catalog show: no model or hardware {entry_id!r}{hint}; see fleetsim catalog list"
    )


def main(argv: Sequence[str]) -> int:
    """Run ``fleetsim catalog ...``; return the exit status (2: bad usage, one line on stderr)."""
    try:
        loaded = catalog.load()
        if argv[:1] == ["list"] and len(argv) <= 2:
            which = argv[1] if len(argv) == 2 else "all"
            if which not in ("models", "hardware", "all"):
                raise InputError(f"catalog list {which!r}; allowed: models, hardware ({USAGE})")
            lines = []
            if which in ("models", "all"):
                lines += [f"models ({len(loaded.tables['models'].ids)}):", *_models(loaded), ""]
            if which in ("hardware", "all"):
                lines += [f"hardware ({len(loaded.tables['hardware'].ids)}):", *_hardware(loaded)]
        elif argv[:1] == ["show"] and len(argv) == 2:
            lines = _show(loaded, argv[1])
        else:
            raise InputError(USAGE)
    except InputError as error:
        print(f"fleetsim: error: {one_line(str(error))}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0

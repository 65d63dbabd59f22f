"""``fleetsim-report``: PNG figures and a self-contained HTML page from a fleetsim result.

Usage: ``fleetsim-report RESULTS.nc --out DIR`` where RESULTS may be one NetCDF file or a quoted
glob of shards (``"out/shard-*.nc"``). The page embeds every figure as a base64 data URI, so
``DIR/index.html`` alone can be mailed or archived.
"""

from __future__ import annotations

import argparse
import base64
import glob
import html
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from fleetsim.analysis import decision_table, decode_status, scenario_dims, tco_residual
from fleetsim.analysis.plots import standard_figures
from fleetsim.analysis.summary import MAX_ROWS, table_cells
from fleetsim.errors import InputError
from fleetsim.io import open_dataset

#: resolution of the written PNG files [dots per inch]
DPI = 110
REQUIRED_DIMS = ("hardware", "model")
PROVENANCE = ("title", "fleetsim_version", "catalog_sha256", "created", "Conventions", "history")
CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 1em;
       max-width: 1500px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.mono { font-family: ui-monospace, monospace; word-break: break-all; }
figure { margin: 1.5em 0; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #555; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; }
"""


class ReportError(Exception):
    """A results path that cannot be read as a fleetsim Dataset (one-line message)."""


def _open(path_or_glob: str) -> xr.Dataset:
    """Open a result with :func:`fleetsim.io.open_dataset`; turn failures into ReportError.

    Parameters
    ----------
    path_or_glob : str
        A file path or a glob pattern (``*``, ``?`` or ``[``) of shards.

    Returns
    -------
    xarray.Dataset
        The (lazily loaded) result; shards of one sweep are put back in sweep order.

    Raises
    ------
    ReportError
        If nothing matches, shards are missing, or the file(s) cannot be read or combined.
    """
    try:
        return open_dataset(path_or_glob)
    except FileNotFoundError as error:
        what = "no file matches" if glob.has_magic(path_or_glob) else "no such file:"
        raise ReportError(f"{what} {path_or_glob}") from error
    except InputError as error:  # a glob that misses or repeats shards of a sweep
        raise ReportError(str(error).splitlines()[0]) from error
    except (OSError, ValueError) as error:
        message = str(error).split(". ")[0].splitlines()[0] if str(error) else type(error).__name__
        raise ReportError(f"cannot read {path_or_glob} as NetCDF: {message}") from error


def _check_fleetsim(ds: xr.Dataset, source: str) -> None:
    """Raise ReportError unless ``ds`` looks like a fleetsim result."""
    missing = [dim for dim in REQUIRED_DIMS if dim not in ds.dims]
    missing += [name for name in ("status", "tco_usd") if name not in ds.data_vars]
    missing += [] if "fleetsim_version" in ds.attrs else ["attribute fleetsim_version"]
    if missing:
        raise ReportError(f"{source} is not a fleetsim Dataset (missing {', '.join(missing)})")


def _table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """Return an HTML table; cells are escaped."""
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _dimension_rows(ds: xr.Dataset) -> list[tuple[str, str, str]]:
    """Return (dimension, size, first labels) for every dimension."""
    rows = []
    for dim, size in ds.sizes.items():
        labels = ", ".join(str(label) for label in ds[dim].values[:8])
        rows.append((str(dim), str(size), labels + (", ..." if size > 8 else "")))
    return rows


def _options_html(ds: xr.Dataset) -> str:
    """Return the ranked options (the CLI's decision table) as an HTML table, or a note."""
    table = decision_table(ds)
    feasible = table[table["tco_usd"].notna()].head(MAX_ROWS)
    if feasible.empty:
        return "<p>No feasible option.</p>"
    options = [d for d in scenario_dims(ds["status"]) if d in table.columns]
    cells = table_cells(feasible, options)
    rows = list(zip(*cells.values(), strict=True))
    notes = []
    if table.attrs["conditions"]:
        notes.append("median (best-worst) over " + ", ".join(table.attrs["conditions"]))
    if table.attrs["draws"]:
        notes.append(f"P50 (P10-P90) over {table.attrs['draws']} Monte Carlo draws")
    note = f"<p>{html.escape('; '.join(notes))}</p>" if notes else ""
    return note + _table(rows, tuple(cells))


def _status_rows(ds: xr.Dataset) -> list[tuple[str, str]]:
    """Return (status label, scenario count) for every status that occurs."""
    labels, counts = np.unique(decode_status(ds).values, return_counts=True)
    return [(str(label), str(count)) for label, count in zip(labels, counts, strict=True)]


def _closure_rows(ds: xr.Dataset) -> list[tuple[str, str]]:
    """Return how far the TCO component lines are from the increment of ``tco_usd``."""
    residual = float(np.abs(tco_residual(ds)).max(skipna=True).fillna(0.0))
    largest = float(np.abs(ds["tco_usd"]).max(skipna=True).fillna(0.0))
    relative = residual / largest if largest else 0.0
    return [("largest |components - increment of tco_usd|", f"{residual:.3g} USD ({relative:.1e})")]


def _summary_html(ds: xr.Dataset, source: str) -> str:
    """Return the summary tables (dimensions, ranked options, status, provenance)."""
    provenance = [(key, str(ds.attrs[key])) for key in PROVENANCE if key in ds.attrs]
    provenance.insert(0, ("source", source))
    scenarios = int(np.prod([ds.sizes[dim] for dim in scenario_dims(ds)]))
    config = html.escape(str(ds.attrs.get("config_yaml", "")))
    return "\n".join(
        [
            f"<h2>Scenarios ({scenarios})</h2>",
            _table(_dimension_rows(ds), ("dimension", "size", "labels")),
            "<h2>Options ranked by TCO</h2>",
            _options_html(ds),
            "<h2>Feasibility</h2>",
            _table(_status_rows(ds), ("status", "scenarios")),
            "<h2>Consistency</h2>",
            _table(_closure_rows(ds), ("check", "result")),
            "<h2>Provenance</h2>",
            _table(provenance, ("attribute", "value")).replace("<td>", '<td class="mono">'),
            f"<details><summary>config_yaml</summary><pre>{config}</pre></details>",
        ]
    )


def _figure_html(png: Path) -> str:
    """Return a <figure> embedding ``png`` as a base64 data URI."""
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    name = html.escape(png.name)
    return (
        f'<figure id="{html.escape(png.stem)}"><img src="data:image/png;base64,{data}" '
        f'alt="{name}" data-file="{name}"><figcaption>{name}</figcaption></figure>'
    )


def write_report(ds: xr.Dataset, out: Path, source: str = "") -> Path:
    """Write every standard figure as PNG and an ``index.html`` embedding them.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result.
    out : pathlib.Path
        Output folder; created if missing, existing files of the same names are replaced.
    source : str, optional
        Where ``ds`` came from, shown in the provenance table.

    Returns
    -------
    pathlib.Path
        Path of the written ``index.html``.
    """
    out.mkdir(parents=True, exist_ok=True)
    pngs = []
    for name, fig in standard_figures(ds).items():
        png = out / f"{name}.png"
        fig.savefig(png, dpi=DPI)
        pngs.append(png)
    title = html.escape(str(ds.attrs.get("title", "fleetsim report")))
    figures = "\n".join(_figure_html(png) for png in pngs)
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{CSS}</style></head><body>\n<h1>{title}</h1>\n"
        f"{_summary_html(ds, source)}\n<h2>Figures</h2>\n{figures}\n</body></html>\n"
    )
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``fleetsim-report``.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments without the program name. Default: ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success; 2 (after a one-line message on stderr) when the results cannot be read or
        are not a fleetsim Dataset.
    """
    parser = argparse.ArgumentParser(
        prog="fleetsim-report", description="Write figures and index.html for a fleetsim result."
    )
    parser.add_argument("results", help="NetCDF file, or a quoted glob of shard files")
    parser.add_argument("--out", type=Path, default=Path("report"), help="output folder")
    args = parser.parse_args(argv)
    try:
        with _open(args.results) as ds:
            _check_fleetsim(ds, args.results)
            index = write_report(ds, args.out, source=args.results)
    except ReportError as error:
        print(f"fleetsim-report: error: {error}", file=sys.stderr)
        return 2
    print(index)
    return 0


if __name__ == "__main__":
    sys.exit(main())

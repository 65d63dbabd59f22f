"""``fleetsim-report``: PNG figures and a self-contained HTML page from a fleetsim result.

Usage: ``fleetsim-report RESULTS.nc --out DIR`` where RESULTS may be one NetCDF file or a quoted
glob of shards (``"out/shard-*.nc"``). The page embeds every figure as a base64 data URI, so
``DIR/index.html`` alone can be mailed or archived.
"""

from __future__ import annotations

import argparse
import base64
import glob
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import jinja2
import numpy as np
import xarray as xr
import yaml
from markupsafe import Markup

from fleetsim.analysis import (
    SAMPLE,
    decision_table,
    decode_status,
    explore,
    scenario_dims,
    tco_residual,
)
from fleetsim.analysis.plots import left_out_figures, standard_figures
from fleetsim.analysis.plots.style import axis_label, dim_text, words
from fleetsim.analysis.summary import MAX_ROWS, table_cells
from fleetsim.errors import InputError
from fleetsim.io import open_dataset

#: resolution of the written PNG files [dots per inch]
DPI = 110
#: dimensions every result has (``mix`` takes the place of ``hardware`` in a hardware-mix run)
REQUIRED_DIMS = ("model", ("hardware", "mix"))
PROVENANCE = ("title", "fleetsim_version", "catalog_sha256", "created", "Conventions", "history")
CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 1em;
       max-width: 1500px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
table.options { font-size: 0.85em; }
table.options th, table.options td { padding: 0.25em 0.45em; }
table.options .spread { display: block; color: #555; font-size: 0.9em; }
td.mono { font-family: ui-monospace, monospace; word-break: break-all; }
figure { margin: 1.5em 0; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #555; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; }
.controls label { margin-right: 1.2em; white-space: nowrap; }
#explore-selectors label { margin-right: 1.2em; }
#explore-plot { width: 100%; height: 560px; }
"""
#: a cell's value and the parenthesis after it (a range, a ratio, "dearer")
SPREAD = re.compile(r"(?P<main>.+?) (?P<spread>\(.+\))")
#: the space between a number and its unit ("283 kW", "147 ms"): kept on one line
UNIT_SPACE = re.compile(r"(?<=\d) (?=(?:[kMG]?W|ms)$)")
#: the page (Jinja2, autoescaped) and the interactive view's controller
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("fleetsim.analysis", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
#: (what the question states, config key) shown at the top of the report
QUESTION = (
    ("model", "model"), ("hardware", "hardware"), ("hardware mix", "mix.candidates"),
    ("requests per day", "workload.requests_per_day"),
    ("growth per year", "workload.growth_per_year"), ("peak to mean", "workload.peak_to_mean"),
    ("prompt tokens", "workload.input_tokens"), ("answer tokens", "workload.output_tokens"),
    ("TTFT target [s]", "workload.ttft_slo_s"), ("at quantile", "workload.ttft_quantile"),
    ("TPOT target [s]", "workload.tpot_slo_s"), ("at quantile ", "workload.tpot_quantile"),
    ("horizon [years]", "finance.years"), ("electricity [USD/kWh]", "finance.electricity_usd_per_kwh"),
    ("discount rate", "finance.discount_rate"),
    ("layout (tp, pp)", "deployment.tp"), ("weights", "deployment.weight_dtype"),
)  # fmt: skip


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
    missing = [
        " or ".join(dims)
        for dims in (d if isinstance(d, tuple) else (d,) for d in REQUIRED_DIMS)
        if not set(dims) & set(ds.dims)
    ]
    missing += [name for name in ("status", "tco_usd") if name not in ds.data_vars]
    missing += [] if "fleetsim_version" in ds.attrs else ["attribute fleetsim_version"]
    if missing:
        raise ReportError(f"{source} is not a fleetsim Dataset (missing {', '.join(missing)})")


def _dimension_rows(ds: xr.Dataset) -> list[tuple[str, str, str, str]]:
    """Return (what, dimension, size, first labels) for every dimension."""
    rows = []
    for dim, size in ds.sizes.items():
        labels = ", ".join(str(label) for label in ds[dim].values[:8])
        what = axis_label(ds[dim]) if dim in ds.coords else str(dim)
        rows.append((what, str(dim), str(size), labels + (", ..." if size > 8 else "")))
    return rows


def _counts(ds: xr.Dataset) -> dict[str, object]:
    """Return the scenario count, the Monte Carlo draws and the runs (scenarios x draws)."""
    scenarios = int(np.prod([ds.sizes[dim] for dim in scenario_dims(ds["status"])]))
    draws = ds.sizes.get(SAMPLE, 0)
    return {"scenarios": scenarios, "draws": draws, "runs": scenarios * max(draws, 1)}


def _condition_words(ds: xr.Dataset, conditions: dict) -> str:
    """Return the conditions of a decision table in words: ``electricity price 0.05-0.2 USD/kWh``."""
    parts = []
    for dim, values in conditions.items():
        if isinstance(values, tuple) and not isinstance(values[0], str):
            parts.append(dim_text(ds, dim, f"{values[0]:g}-{values[1]:g}"))
        else:
            parts.append(dim_text(ds, dim, ", ".join(map(str, values))))
    return "; ".join(parts)


def _options(ds: xr.Dataset) -> dict[str, object]:
    """Return the ranked options (the CLI's decision table): header, rows and a note."""
    table = decision_table(ds)
    feasible = table[table["tco_usd"].notna()].head(MAX_ROWS)
    if feasible.empty:
        return {"header": (), "rows": [], "note": ""}
    options = [d for d in scenario_dims(ds["status"]) if d in table.columns]
    cells = table_cells(feasible, options)
    cells = {(words(ds[h]) if h in options else h): column for h, column in cells.items()}
    notes = []
    if table.attrs["conditions"]:
        notes.append("median (best-worst) over " + _condition_words(ds, table.attrs["conditions"]))
    if table.attrs["draws"]:
        notes.append(f"P50 (P10-P90) over {table.attrs['draws']} Monte Carlo draws")
    rows = [tuple(map(_split_spread, row)) for row in zip(*cells.values(), strict=True)]
    return {"header": tuple(cells), "rows": rows, "note": "; ".join(notes)}


def _split_spread(cell: str) -> tuple[str, str]:
    """Return a cell as (value, parenthesis after it): ``$3.5k ($3.25k-$4k)``, ``$19M (dearer)``.

    The page puts the parenthesis on a line of its own, so the table fits a 1,300 px window.
    """
    found = SPREAD.fullmatch(cell)
    main, spread = (found["main"], found["spread"]) if found else (cell, "")
    return UNIT_SPACE.sub("\u00a0", main), spread


def _question_rows(ds: xr.Dataset) -> list[tuple[str, str]]:
    """Return what the run asked (model, traffic, targets, horizon, prices) from its config."""
    config = yaml.safe_load(str(ds.attrs.get("config_yaml", ""))) or {}
    rows = []
    for what, key in QUESTION:
        node: object = config
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if key == "deployment.tp" and isinstance(config.get("deployment"), dict):
            node = f"{node}, {config['deployment'].get('pp')}"
        if (
            node is None
            or node == []
            or (key == "hardware" and config.get("mix", {}).get("candidates"))
        ):
            continue
        values = node if isinstance(node, list) else [node]
        text = ", ".join(f"{v:,.0f}" if isinstance(v, float) and v.is_integer() and abs(v) >= 1e4
                         else str(v) for v in values)  # fmt: skip
        rows.append((what.strip(), text))
    return rows


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


def _figures(pngs: Sequence[Path]) -> list[dict[str, str]]:
    """Return each PNG's name, stem and base64 data (embedded as a data URI)."""
    return [
        {"name": png.name, "stem": png.stem, "data": base64.b64encode(png.read_bytes()).decode()}
        for png in pngs
    ]


def _explore(ds: xr.Dataset) -> dict[str, object]:
    """Return the template's interactive-view fields (the data as JSON, Plotly, the controller)."""
    from plotly.offline import get_plotlyjs

    data = explore.payload(ds)
    if not data["variables"]:
        return {"explore": "", "explore_left_out": [], "plotly_js": "", "explore_js": ""}
    text = json.dumps(data, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")
    controller = (Path(__file__).with_name("templates") / "explore.js").read_text(encoding="utf-8")
    return {
        "explore": Markup(text),
        "explore_left_out": data["left_out"],
        "plotly_js": Markup(get_plotlyjs()),
        "explore_js": Markup(controller),
    }


def write_report(ds: xr.Dataset, out: Path, source: str = "") -> Path:
    """Write every standard figure as PNG and a self-contained ``index.html``.

    The page (``templates/report.html.j2``) states the question (model, traffic, targets,
    horizon, prices), ranks the options as the CLI does, embeds an interactive view of the
    whole Dataset (Plotly: any variable over any two dimensions, the others as selectors),
    then the figures, feasibility, the TCO closure check and provenance.

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
    provenance = [("source", source)]
    provenance += [(key, str(ds.attrs[key])) for key in PROVENANCE if key in ds.attrs]
    page = TEMPLATES.get_template("report.html.j2").render(
        title=str(ds.attrs.get("title", "fleetsim report")),
        css=Markup(CSS),
        question=_question_rows(ds),
        options=_options(ds),
        counts=_counts(ds),
        left_out=left_out_figures(ds),
        dimensions=_dimension_rows(ds),
        status=_status_rows(ds),
        closure=_closure_rows(ds),
        figures=_figures(pngs),
        provenance=provenance,
        config_yaml=str(ds.attrs.get("config_yaml", "")),
        **_explore(ds),
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

"""Matplotlib figures of a fleetsim result Dataset.

Every function returns a :class:`matplotlib.figure.Figure` drawn on an Agg canvas (no pyplot
state, no display needed) with constrained layout. Axis labels are ``long_name [units]`` from
the variables' attributes. A Monte Carlo ``sample`` dimension is reduced to its mean first.
Scenario selections are ``{dimension: label}`` dicts; dimensions left out default to the
scenario with the lowest TCO among those matching the selection.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Hashable, Mapping
from typing import Any

import matplotlib as mpl
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from fleetsim.analysis import (
    YEAR,
    at_year,
    cheapest_scenario,
    mean_over_samples,
    pareto_front,
    scenario_dims,
    scenario_table,
    sensitivity,
    tco_breakdown,
)

COST = "cost_per_million_output_tokens_usd"
#: figure sizes [in]; at the report's 110 dpi text stays legible
FIGSIZE = {
    "tco_breakdown": (9.0, 5.5),
    "cost_heatmap": (9.0, 6.0),
    "pareto": (9.0, 6.0),
    "fleet": (13.0, 4.5),
    "sensitivity": (9.0, 5.0),
}
FLEET_VARIABLES = ("accelerators", "facility_power_w", "utilisation")
#: heatmaps with at most this many cells get their values written in
MAX_ANNOTATED_CELLS = 100
#: at most this many tick labels per axis
MAX_TICKS = 25
#: a dotted config key such as ``finance.electricity_usd_per_kwh``, optionally `` (uncertain)``
CONFIG_KEY = re.compile(r"(?:[a-z][a-z0-9_]*\.)+(?P<leaf>[a-z][a-z0-9_]*)(?P<suffix> \(.+\))?")
#: last words of a config key that already say it is an amount of money
MONEY_WORDS = frozenset({"cost", "price", "capex", "opex"})
STYLE = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "figure.titlesize": 13,
    "axes.grid": True,
    "grid.alpha": 0.3,
}

Selection = Mapping[Hashable, Any]


def _figure(name: str) -> Figure:
    """Return an empty constrained-layout Figure of the standard size for ``name``."""
    fig = Figure(figsize=FIGSIZE[name], layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _readable(name: str, units: str) -> str:
    """Return a dotted config key (``long_name`` of a swept coordinate) as words.

    ``finance.electricity_usd_per_kwh`` with units ``USD/kWh`` becomes ``electricity price``: the
    last key part without the trailing words that restate the units (``usd per kwh``; "price"
    added when those were money), underscores as spaces. A suffix such as `` (uncertain)`` is
    kept; any other text is returned unchanged.
    """
    match = CONFIG_KEY.fullmatch(name)
    if match is None:
        return name
    words = match["leaf"].split("_")
    unit_words = {"per", *re.findall(r"[a-z]+", units.lower())} if units not in ("1", "") else set()
    stripped = []
    while len(words) > 1 and words[-1] in unit_words:
        stripped.insert(0, words.pop())
    if stripped[:1] == ["usd"] and words[-1] not in MONEY_WORDS:
        words.append("price")  # electricity_usd_per_kwh is a price
    return " ".join(words) + (match["suffix"] or "")


def axis_label(da: xr.DataArray) -> str:
    """Return ``long_name [units]`` (units omitted when dimensionless).

    A coordinate whose ``long_name`` is its dotted config key is shown as words
    (``finance.electricity_usd_per_kwh`` -> ``electricity price [USD/kWh]``).
    """
    units = str(da.attrs.get("units", "1"))
    name = _readable(str(da.attrs.get("long_name", da.name)), units)
    return name if units in ("1", "") else f"{name} [{units}]"


def _fmt(label: Any) -> str:
    """Return a coordinate label as short text."""
    return f"{label:g}" if isinstance(label, float | np.floating) else str(label)


def compact(value: float, _position: object = None) -> str:
    """Return a number with 3 significant digits and a k/M/G/T suffix above a thousand."""
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


COMPACT = FuncFormatter(compact)


def _describe(selection: Selection) -> str:
    """Return ``dim=label, ...`` for a scenario selection."""
    return ", ".join(f"{dim}={_fmt(label)}" for dim, label in selection.items())


def _title(ax_or_fig: Axes | Figure, title: str, selection: Selection) -> None:
    """Set a title with the wrapped scenario description as a second line."""
    text = title if not selection else f"{title}\n" + textwrap.fill(_describe(selection), 95)
    if isinstance(ax_or_fig, Figure):
        ax_or_fig.suptitle(text)
    else:
        ax_or_fig.set_title(text)


def _year_text(da: xr.DataArray, year: int | None) -> str:
    """Return ", year N" naming the year shown of a per-year variable, else ""."""
    return f", year {int(at_year(da, year)[YEAR])}" if YEAR in da.dims else ""


def _no_data(ax: Axes, message: str) -> None:
    """Write ``message`` in the middle of an empty axes (without ticks)."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="dimgray")


def _scenario(da: xr.DataArray, sel: Selection | None = None) -> dict[Hashable, Any]:
    """Complete ``sel`` with the lowest-``da`` scenario among those matching it.

    Falls back to the first label of each free dimension when every candidate is infeasible.
    """
    chosen = dict(sel or {})
    candidates = da.sel(chosen)
    name = str(da.name or "value")
    try:
        best = cheapest_scenario(candidates.to_dataset(name=name), name)
    except ValueError:
        best = {dim: candidates[dim].values[0] for dim in scenario_dims(candidates)}
    return {dim: chosen.get(dim, best.get(dim)) for dim in scenario_dims(da)}


def _points(key: str) -> float:
    """Return the font size [pt] of rcParams ``key`` (named sizes count as ``font.size``)."""
    size = mpl.rcParams[key]
    return float(size) if isinstance(size, int | float) else float(mpl.rcParams["font.size"])


def _set_ticks(ax: Axes, axis: str, labels: list[str]) -> None:
    """Put category labels on ``axis`` ("x" or "y"), thinned and turned so they do not overlap.

    X labels stay horizontal when their estimated width (0.6 em a character) fits in three
    quarters of the figure width, and are turned upright otherwise.
    """
    step = int(np.ceil(len(labels) / MAX_TICKS))
    positions = np.arange(0, len(labels), step)
    shown = [labels[i] for i in positions]
    if axis == "y":
        ax.set_yticks(positions, shown)
        return
    width = len(shown) * (max(map(len, shown)) + 2) * 0.6 * _points("xtick.labelsize") / 72
    fits = width < 0.75 * ax.get_figure().get_figwidth()
    ax.set_xticks(positions, shown, rotation=0 if fits else 90)


def _legend_columns(fig: Figure, labels: list[str]) -> int:
    """Return how many legend columns of ``labels`` fit across the figure (0.55 em a char)."""
    column = (max(map(len, labels), default=1) + 5) * 0.55 * _points("legend.fontsize") / 72
    return int(max(1, min(len(labels), fig.get_figwidth() // column)))


def _stack_bars(ax: Axes, parts: xr.Dataset) -> np.ndarray:
    """Draw the variables of ``parts`` as stacked bars over years; return the yearly totals."""
    years = parts[YEAR].values
    above = np.zeros(years.size)
    below = np.zeros(years.size)
    colors = mpl.colormaps["tab10"]
    for index, line in enumerate(parts.data_vars.values()):
        values = np.asarray(line.values, dtype=float).reshape(years.size)
        base = np.where(values >= 0, above, below)
        label = str(line.attrs.get("long_name", line.name))
        bars = ax.bar(years, values, bottom=base, color=colors(index % 10), label=label)
        for bar in bars:  # a zero-height bar on top must not stop the y margin
            bar.sticky_edges.y[:] = [0.0]
        above += np.clip(values, 0, None)
        below += np.clip(values, None, 0)
    return above + below


def plot_tco_breakdown(ds: xr.Dataset, sel: Selection | None = None) -> Figure:
    """Stacked bars of the annual TCO component lines of one scenario.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result.
    sel : mapping, optional
        ``{dimension: label}``; missing dimensions default to the cheapest scenario (lowest
        ``tco_usd`` in the last year) among those matching ``sel``.

    Returns
    -------
    matplotlib.figure.Figure
        Annual cost per component over years, with the yearly total written above each bar
        (legend entries are the components' long names; all share the units of ``tco_usd``).
        The lines are not checked against ``tco_usd`` here (a file stored with few significant
        digits would fail); the report shows the residual.
    """
    ds = mean_over_samples(ds)
    scenario = _scenario(ds["tco_usd"], sel)
    parts = tco_breakdown(ds, check=False, **scenario)
    fig = _figure("tco_breakdown")
    with mpl.rc_context(STYLE):
        ax = fig.add_subplot()
        _title(ax, "Annual total cost of ownership by component", scenario)
        ax.set_xlabel(axis_label(ds[YEAR]))
        units = ds["tco_usd"].attrs.get("units", "USD")
        ax.set_ylabel(f"annual cost [{units}]")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_formatter(COMPACT)
        if all(bool(parts[name].isnull().all()) for name in parts.data_vars):
            _no_data(ax, "infeasible scenario: no costs")
            return fig
        totals = _stack_bars(ax, parts)
        for year, total in zip(parts[YEAR].values, totals, strict=True):
            ax.annotate(
                compact(total),
                (year, max(total, 0)),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=9,
            )
        ax.margins(y=0.12)
        labels = ax.get_legend_handles_labels()[1]
        fig.legend(loc="outside lower center", ncols=_legend_columns(fig, labels), frameon=False)
    return fig


def _heatmap_dims(da: xr.DataArray, x: Hashable | None, y: Hashable | None) -> list[Hashable]:
    """Return the dimensions to plot: ``x``/``y`` if given, else the two longest swept ones."""
    if x is not None or y is not None:
        return [dim for dim in (x, y) if dim is not None]
    swept = [dim for dim in scenario_dims(da) if da.sizes[dim] > 1]
    return sorted(swept, key=lambda dim: -da.sizes[dim])[:2]


def _draw_heatmap(fig: Figure, ax: Axes, grid: xr.DataArray, x: Hashable, y: Hashable) -> None:
    """Draw a 2-D DataArray as a heatmap with category ticks, colour bar and cell values."""
    values = np.asarray(grid.transpose(y, x).values, dtype=float)
    masked = np.ma.masked_invalid(values)
    cmap = mpl.colormaps["viridis"].with_extremes(bad="lightgray")
    image = ax.imshow(masked, origin="lower", aspect="auto", cmap=cmap)
    fig.colorbar(image, ax=ax, label=axis_label(grid), format=COMPACT)
    _set_ticks(ax, "x", [_fmt(v) for v in grid[x].values])
    _set_ticks(ax, "y", [_fmt(v) for v in grid[y].values])
    ax.set_xlabel(axis_label(grid[x]))
    ax.set_ylabel(axis_label(grid[y]))
    ax.grid(False)
    if values.size > MAX_ANNOTATED_CELLS:
        return
    norm = image.norm
    for (row, col), value in np.ndenumerate(values):
        if np.isnan(value):
            ax.text(col, row, "infeasible", ha="center", va="center", fontsize=8, color="dimgray")
        else:
            dark = norm(value) < 0.6
            ax.text(
                col,
                row,
                compact(value),
                ha="center",
                va="center",
                fontsize=9,
                color="white" if dark else "black",
            )


def _draw_bars(ax: Axes, line: xr.DataArray, dim: Hashable | None) -> None:
    """Draw a 1-D (or 0-D) DataArray as bars, marking NaN entries as infeasible."""
    values = np.atleast_1d(np.asarray(line.values, dtype=float))
    labels = [_fmt(v) for v in line[dim].values] if dim is not None else [""]
    positions = np.arange(values.size)
    ax.bar(positions, np.nan_to_num(values), color="tab:blue")
    for position, value in zip(positions, values, strict=True):
        text = "infeasible" if np.isnan(value) else compact(value)
        ax.annotate(
            text,
            (position, 0 if np.isnan(value) else value),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=9,
        )
    _set_ticks(ax, "x", labels)
    if dim is not None:
        ax.set_xlabel(axis_label(line[dim]))
    ax.set_ylabel(axis_label(line))
    ax.margins(y=0.12)


def plot_cost_heatmap(
    ds: xr.Dataset,
    var: str = COST,
    x: Hashable | None = None,
    y: Hashable | None = None,
    year: int | None = None,
    sel: Selection | None = None,
) -> Figure:
    """Heatmap of ``var`` over two scenario dimensions (bar chart when only one is swept).

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result.
    var : str, default "cost_per_million_output_tokens_usd"
        Variable to colour by. [USD]
    x, y : hashable, optional
        Dimensions on the horizontal and vertical axes. Default: the two longest dimensions
        with more than one value (one gives a bar chart, none a single bar).
    year : int, optional
        Year shown for per-year variables. Default: the last year. [year]
    sel : mapping, optional
        Labels of the other dimensions; missing ones default to the cheapest scenario.

    Returns
    -------
    matplotlib.figure.Figure
        Infeasible cells are grey and marked "infeasible".
    """
    da = mean_over_samples(at_year(ds[var], year))
    dims = _heatmap_dims(da, x, y)
    fixed = {dim: label for dim, label in _scenario(da, sel).items() if dim not in dims}
    grid = da.sel(fixed)
    fig = _figure("cost_heatmap")
    with mpl.rc_context(STYLE):
        ax = fig.add_subplot()
        _title(ax, f"{grid.attrs.get('long_name', var)}{_year_text(ds[var], year)}", fixed)
        if len(dims) == 2:
            _draw_heatmap(fig, ax, grid, dims[0], dims[1])
        else:
            _draw_bars(ax, grid, dims[0] if dims else None)
    return fig


def _annotate_front(ax: Axes, front: Any, cost: str, latency: str, dims: list[Hashable]) -> None:
    """Label each Pareto point with its scenario's labels along the swept dimensions.

    Scenarios at the same point (ties, e.g. a swept setting that changes nothing) share one
    label listing their values as ``a/b/c``, so labels never print on top of each other.
    """
    for (x, y), group in front.groupby([latency, cost], sort=False):
        parts = ("/".join(dict.fromkeys(_fmt(value) for value in group[dim])) for dim in dims)
        ax.annotate(", ".join(parts), (x, y), xytext=(6, 4), textcoords="offset points", fontsize=9)


def _log_if_wide(ax: Axes, values: Any, axis: str) -> None:
    """Use a log scale on ``axis`` when positive values span more than two decades."""
    values = np.asarray(values, dtype=float)
    if values.size and values.min() > 0 and values.max() / values.min() > 100:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def plot_pareto(
    ds: xr.Dataset,
    cost: str = COST,
    latency: str = "ttft_s",
    year: int | None = None,
    hue: Hashable = "hardware",
) -> Figure:
    """Scatter of cost against latency for every scenario, with the Pareto front highlighted.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result.
    cost : str, default "cost_per_million_output_tokens_usd"
        Cost variable (vertical axis). [USD]
    latency : str, default "ttft_s"
        Latency variable (horizontal axis). [s]
    year : int, optional
        Year used for per-year variables. Default: the last year. [year]
    hue : hashable, default "hardware"
        Dimension whose labels colour the points.

    Returns
    -------
    matplotlib.figure.Figure
        Infeasible scenarios are left out.
    """
    ds = mean_over_samples(ds)
    points = scenario_table(ds, [cost, latency], year).dropna(subset=[cost, latency])
    front = pareto_front(ds, cost, latency, year)
    swept = [dim for dim in scenario_dims(ds[cost]) if ds.sizes[dim] > 1]
    fig = _figure("pareto")
    with mpl.rc_context(STYLE):
        ax = fig.add_subplot()
        _title(ax, f"Cost against latency{_year_text(ds[cost], year)}", {})
        ax.set_xlabel(axis_label(ds[latency]))
        ax.set_ylabel(axis_label(ds[cost]))
        if points.empty:
            _no_data(ax, "no feasible scenario")
            return fig
        groups = points.groupby(hue, sort=False) if hue in points else [("all", points)]
        for label, group in groups:
            ax.scatter(group[latency], group[cost], s=30, alpha=0.8, label=_fmt(label))
        ax.plot(
            front[latency],
            front[cost],
            "k--",
            marker="o",
            mfc="none",
            ms=11,
            lw=1,
            label="Pareto front",
        )
        if len(front) <= 10:
            _annotate_front(ax, front, cost, latency, swept)
        _log_if_wide(ax, points[latency], "x")
        _log_if_wide(ax, points[cost], "y")
        ax.margins(0.12)
        ax.legend(title=str(hue) if hue in points else None, loc="best")
    return fig


def _fleet_panel(ax: Axes, da: xr.DataArray, hue: Hashable | None) -> None:
    """Plot one per-year fleet variable, one line per ``hue`` label."""
    lines = [(label, da.sel({hue: label})) for label in da[hue].values] if hue else [("", da)]
    for label, line in lines:
        if not bool(line.isnull().all()):
            ax.plot(line[YEAR].values, line.values, marker="o", label=_fmt(label))
    ax.set_xlabel(axis_label(da[YEAR]))
    ax.set_ylabel(axis_label(da))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if "utilisation" in str(da.name):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    else:
        ax.yaxis.set_major_formatter(COMPACT)


def plot_fleet(ds: xr.Dataset, sel: Selection | None = None, hue: Hashable = "hardware") -> Figure:
    """Three panels over years: accelerators, facility power and utilisation.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result.
    sel : mapping, optional
        Labels of the dimensions other than ``hue``; missing ones default to the cheapest
        scenario.
    hue : hashable, default "hardware"
        Dimension drawn as one line per label (ignored when it has a single value).

    Returns
    -------
    matplotlib.figure.Figure
        Infeasible scenarios draw no line.
    """
    ds = mean_over_samples(ds)
    hue_dim = hue if hue in ds.dims and ds.sizes[hue] > 1 else None
    scenario = _scenario(ds["tco_usd"], sel)
    fixed = {dim: label for dim, label in scenario.items() if dim != hue_dim}
    fig = _figure("fleet")
    with mpl.rc_context(STYLE):
        axes = fig.subplots(1, len(FLEET_VARIABLES))
        for ax, name in zip(axes, FLEET_VARIABLES, strict=True):
            _fleet_panel(ax, ds[name].sel(fixed), hue_dim)
        _title(fig, "Fleet over years", fixed)
        if hue_dim is not None:
            handles, labels = axes[0].get_legend_handles_labels()
            fig.legend(
                handles,
                labels,
                loc="outside lower center",
                title=str(hue_dim),
                ncols=_legend_columns(fig, labels),
                frameon=False,
            )
    return fig


def _tornado_bar(ax: Axes, row: Any, position: int, base: float) -> None:
    """Draw the low and high bars of one sensitivity row around the baseline value."""
    if np.isnan(row["value_at_low"]) and np.isnan(row["value_at_high"]):
        ax.annotate("infeasible", (base, position), ha="center", va="center", fontsize=9)
        return
    if row["swing"] == 0:
        ax.annotate(
            "no change",
            (base, position),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
        )
        return
    low, high = row["value_at_low"], row["value_at_high"]
    # each label goes on the outer side of its end (low end left of the high end when equal)
    low_right = low > (base if np.isnan(high) else high)
    high_right = high >= (base if np.isnan(low) else low)
    ends = ((low, row["low"], "tab:blue", low_right), (high, row["high"], "tab:orange", high_right))
    for value, label, color, right in ends:
        if np.isnan(value):
            continue
        ax.barh(position, value - base, left=base, height=0.6, color=color)
        ax.annotate(
            _fmt(label),
            (value, position),
            xytext=(4 if right else -4, 0),
            textcoords="offset points",
            ha="left" if right else "right",
            va="center",
            fontsize=9,
        )


def plot_sensitivity(
    ds: xr.Dataset,
    var: str = "tco_usd",
    year: int | None = None,
    baseline: Selection | None = None,
) -> Figure:
    """Tornado chart of the one-at-a-time sensitivity of ``var``.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result.
    var : str, default "tco_usd"
        Variable to study. [its registry units]
    year : int, optional
        Year used when ``var`` is per year. Default: the last year. [year]
    baseline : mapping, optional
        Baseline labels; by default the middle label of each dimension, or the cheapest
        scenario if that one is infeasible.

    Returns
    -------
    matplotlib.figure.Figure
        One bar pair per swept dimension, largest swing on top; bars end at the labels read.
    """
    ds = mean_over_samples(ds)
    table = sensitivity(ds, var, year, baseline)
    if baseline is None and not table.empty and np.isnan(table["value_at_baseline"].iloc[0]):
        baseline = _scenario(ds[var])
        table = sensitivity(ds, var, year, baseline)
    fig = _figure("sensitivity")
    with mpl.rc_context(STYLE):
        ax = fig.add_subplot()
        ax.set_xlabel(axis_label(ds[var]))
        ax.xaxis.set_major_formatter(COMPACT)
        base_labels = dict(zip(table["dim"], table["baseline"], strict=True))
        long_name = ds[var].attrs.get("long_name", var)
        title = f"Sensitivity of {long_name}{_year_text(ds[var], year)}; baseline:"
        _title(ax, title, base_labels)
        if table.empty or np.isnan(table["value_at_baseline"].iloc[0]):
            _no_data(ax, "no swept dimension" if table.empty else "baseline is infeasible")
            return fig
        base = float(table["value_at_baseline"].iloc[0])
        positions = np.arange(len(table))[::-1]
        for position, (_, row) in zip(positions, table.iterrows(), strict=True):
            _tornado_bar(ax, row, position, base)
        ax.axvline(base, color="black", lw=1)
        ax.set_yticks(positions, [axis_label(ds[dim]) for dim in table["dim"]])
        ax.margins(x=0.2)
        # rows without bars ("no change", "infeasible") must stay in view too
        ax.set_ylim(-0.75, len(table) - 0.25)
        ax.legend(
            handles=[
                Patch(color="tab:blue", label="lowest value or best option"),
                Patch(color="tab:orange", label="highest value or worst option"),
            ],
            loc="best",
        )
    return fig


def standard_figures(ds: xr.Dataset) -> dict[str, Figure]:
    """Return the report's figures with default settings, keyed by file stem.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result.

    Returns
    -------
    dict of str to matplotlib.figure.Figure
        ``tco_breakdown``, ``cost_heatmap``, ``pareto``, ``fleet`` and ``sensitivity``.
    """
    return {
        "tco_breakdown": plot_tco_breakdown(ds),
        "cost_heatmap": plot_cost_heatmap(ds),
        "pareto": plot_pareto(ds),
        "fleet": plot_fleet(ds),
        "sensitivity": plot_sensitivity(ds),
    }

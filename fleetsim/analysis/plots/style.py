"""The house style of fleetsim figures: sizes, fonts, number formats, labels in words.

Every figure is a :class:`matplotlib.figure.Figure` drawn on an Agg canvas (no pyplot state, no
display needed) with constrained layout. Axis labels are ``long_name [units]`` from the
variables' attributes.
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
from matplotlib.ticker import FuncFormatter

from fleetsim.analysis.dims import YEAR, at_year, mean_over_samples, scenario_dims
from fleetsim.analysis.selection import cheapest_scenario
from fleetsim.units import display

COST = "cost_per_million_output_tokens_usd"
#: figure sizes [in]; at the report's 110 dpi text stays legible
FIGSIZE = {
    "tco_breakdown": (9.0, 5.5),
    "cost_heatmap": (9.0, 6.0),
    "pareto": (9.0, 6.0),
    "fleet": (13.0, 4.5),
    "sensitivity": (9.0, 5.0),
    "fan": (12.0, 5.0),
}
#: at most this many tick labels per axis
MAX_TICKS = 25
#: a dotted config key such as ``finance.electricity_usd_per_kwh``, optionally `` (uncertain)``
CONFIG_KEY = re.compile(r"(?:[a-z][a-z0-9_]*\.)+(?P<leaf>[a-z][a-z0-9_]*)(?P<suffix> \(.+\))?")
#: a cost per million tokens (units "1", currency USD)
PER_MILLION = re.compile(r"cost_per_million_[a-z]+_tokens_usd")
PER_MILLION_WORDS = re.compile(r"^cost per million ")
#: power shown in the largest of these units not above its largest value [W]
POWER_STEPS = ((1e9, "GW"), (1e6, "MW"), (1e3, "kW"))
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


def new_figure(name: str) -> Figure:
    """Return an empty constrained-layout Figure of the standard size for ``name``."""
    fig = Figure(figsize=FIGSIZE[name], layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _readable(name: str, units: str) -> str:
    """Return a dotted config key (``long_name`` of a swept coordinate) as words.

    ``finance.electricity_usd_per_kwh`` with units ``USD/kWh`` (as displayed) becomes ``electricity price``: the
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


def words(da: xr.DataArray) -> str:
    """Return what ``da`` is, in words and without units.

    A coordinate whose ``long_name`` is its dotted config key is shown as words
    (``finance.electricity_usd_per_kwh`` -> ``electricity price``); the ``mix`` dimension is
    the "hardware mix"; a cost per million tokens is the "cost of ... tokens" (its units say
    "per million").
    """
    if da.name == "mix":
        return "hardware mix"
    name = _readable(str(da.attrs.get("long_name", da.name)), display_units(da))
    return PER_MILLION_WORDS.sub("cost of ", name) if PER_MILLION.fullmatch(str(da.name)) else name


def axis_label(da: xr.DataArray) -> str:
    """Return ``words [units]`` (units omitted when dimensionless).

    ``finance.electricity_usd_per_kwh`` -> ``electricity price [USD/kWh]``; a cost per million
    output tokens -> ``cost of generated tokens [USD per million]``.
    """
    units = display_units(da)
    return words(da) if not units else f"{words(da)} [{units}]"


def display_units(da: xr.DataArray) -> str:
    """Return ``da``'s unit as people write it (``USD/kWh``, ``kW``; empty when dimensionless).

    A cost per million tokens is in ``USD per million``.
    """
    units = display(str(da.attrs.get("units", "1")), da.attrs.get("currency"))
    return f"{units} per million" if units and PER_MILLION.fullmatch(str(da.name)) else units


def for_display(da: xr.DataArray) -> xr.DataArray:
    """Return ``da`` in the unit people read: power in W, kW, MW or GW by its largest value.

    Other variables are returned unchanged; the ``units`` attribute names the unit shown.
    """
    if str(da.attrs.get("units")) != "W":
        return da
    magnitude = np.abs(np.asarray(da.values, dtype=float))
    largest = float(magnitude[np.isfinite(magnitude)].max(initial=0.0))
    factor, unit = next(((f, u) for f, u in POWER_STEPS if largest >= f), (1.0, "W"))
    return (da / factor).assign_attrs(da.attrs, units=unit)


def dim_text(ds: xr.Dataset | xr.DataArray | None, dim: Hashable, label: Any) -> str:
    """Return one scenario label in words: ``electricity price 0.05 USD/kWh``, ``hardware b200``."""
    if ds is None or dim not in ds.coords:
        return f"{dim} {fmt(label)}"
    units = display_units(ds[dim])
    return f"{words(ds[dim])} {fmt(label)}" + (f" {units}" if units else "")


def fmt(label: Any) -> str:
    """Return a coordinate label as short text."""
    return f"{label:g}" if isinstance(label, float | np.floating) else str(label)


def compact(value: float, _position: object = None) -> str:
    """Return a number with 3 significant digits and a k/M/G/T suffix above a thousand."""
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


COMPACT = FuncFormatter(compact)


def option_dim(ds: xr.Dataset | xr.DataArray) -> str:
    """Return the dimension of the hardware choice: ``mix`` in a hardware-mix run, else ``hardware``."""
    return "mix" if "mix" in ds.dims else "hardware"


def describe(ds: xr.Dataset | xr.DataArray | None, selection: Selection) -> str:
    """Return a scenario selection in words: ``hardware b, electricity price 0.05 USD/kWh``."""
    return ", ".join(dim_text(ds, dim, label) for dim, label in selection.items())


def set_title(
    ax_or_fig: Axes | Figure,
    title: str,
    selection: Selection,
    ds: xr.Dataset | xr.DataArray | None = None,
) -> None:
    """Set a title with the wrapped scenario description (in words, from ``ds``) below it."""
    text = title if not selection else f"{title}\n" + textwrap.fill(describe(ds, selection), 95)
    if isinstance(ax_or_fig, Figure):
        ax_or_fig.suptitle(text)
    else:
        ax_or_fig.set_title(text)


def year_text(da: xr.DataArray, year: int | None) -> str:
    """Return ", year N" naming the year shown of a per-year variable, else ""."""
    return f", year {int(at_year(da, year)[YEAR])}" if YEAR in da.dims else ""


def no_data(ax: Axes, message: str) -> None:
    """Write ``message`` in the middle of an empty axes (without ticks)."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="dimgray")


def complete_selection(da: xr.DataArray, sel: Selection | None = None) -> dict[Hashable, Any]:
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


def set_ticks(ax: Axes, axis: str, labels: list[str]) -> None:
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


def hue_and_fixed(
    ds: xr.Dataset, hue: Hashable | None, sel: Selection | None
) -> tuple[Hashable | None, dict[Hashable, Any]]:
    """Return the dimension drawn one line per label and the labels the others are held at.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result.
    hue : hashable, optional
        The line dimension; default :func:`option_dim`. None is returned when it has one value.
    sel : mapping, optional
        Labels of the other dimensions; missing ones are those of the scenario with the lowest
        (mean) TCO among those matching ``sel``.

    Returns
    -------
    tuple
        ``(hue dimension or None, {dimension: label} of every other scenario dimension)``.
    """
    hue = option_dim(ds) if hue is None else hue
    hue_dim = hue if hue in ds.dims and ds.sizes[hue] > 1 else None
    scenario = complete_selection(mean_over_samples(ds["tco_usd"]), sel)
    return hue_dim, {dim: label for dim, label in scenario.items() if dim != hue_dim}


def legend_below(fig: Figure, ax: Axes, title: str | None = None) -> None:
    """Put the legend of ``ax``'s lines under the figure, in as many columns as fit."""
    handles, labels = ax.get_legend_handles_labels()
    if labels:
        fig.legend(handles, labels, loc="outside lower center", title=title,
                   ncols=legend_columns(fig, labels), frameon=False)  # fmt: skip


def legend_columns(fig: Figure, labels: list[str]) -> int:
    """Return how many legend columns of ``labels`` fit across the figure (0.55 em a char)."""
    column = (max(map(len, labels), default=1) + 5) * 0.55 * _points("legend.fontsize") / 72
    return int(max(1, min(len(labels), fig.get_figwidth() // column)))

"""Figures of one scenario over years: the TCO lines as stacked bars, the fleet's size and power."""

from __future__ import annotations

from collections.abc import Hashable

import matplotlib as mpl
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from fleetsim.analysis.breakdown import tco_breakdown
from fleetsim.analysis.dims import YEAR, mean_over_samples
from fleetsim.analysis.plots.style import (
    COMPACT,
    STYLE,
    Selection,
    axis_label,
    compact,
    complete_selection,
    display_units,
    fmt,
    for_display,
    hue_and_fixed,
    legend_below,
    new_figure,
    no_data,
    set_title,
    words,
)

FLEET_VARIABLES = ("accelerators", "facility_power_w", "utilisation")


def _stack_bars(ax: Axes, parts: xr.Dataset) -> np.ndarray:
    """Draw the variables of ``parts`` as stacked bars over years; return the yearly totals.

    A line that is zero (or NaN) in every year gets no bars and no legend entry.
    """
    years = parts[YEAR].values
    above = np.zeros(years.size)
    below = np.zeros(years.size)
    colors = mpl.colormaps["tab10"]
    for index, line in enumerate(parts.data_vars.values()):
        values = np.asarray(line.values, dtype=float).reshape(years.size)
        if not np.any(np.nan_to_num(values)):
            continue
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
    scenario = complete_selection(ds["tco_usd"], sel)
    parts = tco_breakdown(ds, check=False, **scenario)
    fig = new_figure("tco_breakdown")
    with mpl.rc_context(STYLE):
        ax = fig.add_subplot()
        set_title(ax, "Annual total cost of ownership by component", scenario, ds)
        ax.set_xlabel(axis_label(ds[YEAR]))
        ax.set_ylabel(f"annual cost [{display_units(ds['tco_usd'])}]")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_formatter(COMPACT)
        if all(bool(parts[name].isnull().all()) for name in parts.data_vars):
            no_data(ax, "infeasible scenario: no costs")
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
        legend_below(fig, ax)
    return fig


def _fleet_panel(ax: Axes, da: xr.DataArray, hue: Hashable | None) -> None:
    """Plot one per-year fleet variable (power in kW or MW), one line per ``hue`` label."""
    da = for_display(da)
    lines = [(label, da.sel({hue: label})) for label in da[hue].values] if hue else [("", da)]
    for label, line in lines:
        if not bool(line.isnull().all()):
            ax.plot(line[YEAR].values, line.values, marker="o", label=fmt(label))
    ax.set_xlabel(axis_label(da[YEAR]))
    ax.set_ylabel(axis_label(da))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if "utilisation" in str(da.name):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    else:
        ax.yaxis.set_major_formatter(COMPACT)


def plot_fleet(ds: xr.Dataset, sel: Selection | None = None, hue: Hashable | None = None) -> Figure:
    """Three panels over years: accelerators, facility power and utilisation.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result.
    sel : mapping, optional
        Labels of the dimensions other than ``hue``; missing ones default to the cheapest
        scenario.
    hue : hashable, optional
        Dimension drawn as one line per label (ignored when it has a single value). Default:
        ``hardware``, or ``mix`` for a hardware-mix run.

    Returns
    -------
    matplotlib.figure.Figure
        Infeasible scenarios draw no line.
    """
    ds = mean_over_samples(ds)
    hue_dim, fixed = hue_and_fixed(ds, hue, sel)
    fig = new_figure("fleet")
    with mpl.rc_context(STYLE):
        axes = fig.subplots(1, len(FLEET_VARIABLES))
        for ax, name in zip(axes, FLEET_VARIABLES, strict=True):
            _fleet_panel(ax, ds[name].sel(fixed), hue_dim)
        set_title(fig, "Fleet over years", fixed, ds)
        if hue_dim is not None:
            legend_below(fig, axes[0], words(ds[hue_dim]))
    return fig

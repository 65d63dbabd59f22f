"""Matplotlib figures of a fleetsim result Dataset.

Every function returns a :class:`matplotlib.figure.Figure` drawn on an Agg canvas (no pyplot
state, no display needed) with constrained layout. Axis labels are ``long_name [units]`` from
the variables' attributes (power in kW or MW, costs per million tokens in USD per million). A
Monte Carlo ``sample`` dimension is reduced to its mean first, except in the fan chart.
Scenario selections are ``{dimension: label}`` dicts; dimensions left out default to the
scenario with the lowest TCO among those matching the selection.

Modules: :mod:`.style` (sizes, formats, labels), :mod:`.tco` (TCO lines and fleet over years),
:mod:`.heatmap`, :mod:`.pareto` (trade-off fronts), :mod:`.sensitivity` (tornado), :mod:`.fan`
(Monte Carlo P10-P90 over years).
"""

from __future__ import annotations

import xarray as xr
from matplotlib.figure import Figure

from fleetsim.analysis.dims import SAMPLE, scenario_dims
from fleetsim.analysis.plots.fan import plot_fan
from fleetsim.analysis.plots.heatmap import plot_cost_heatmap
from fleetsim.analysis.plots.pareto import (
    draw_interactivity_frontier,
    plot_interactivity_frontier,
    plot_pareto,
)
from fleetsim.analysis.plots.sensitivity import plot_sensitivity
from fleetsim.analysis.plots.style import (
    COMPACT,
    FIGSIZE,
    STYLE,
    axis_label,
    compact,
    for_display,
)
from fleetsim.analysis.plots.tco import plot_fleet, plot_tco_breakdown

__all__ = [
    "COMPACT",
    "FIGSIZE",
    "STYLE",
    "axis_label",
    "compact",
    "draw_interactivity_frontier",
    "for_display",
    "left_out_figures",
    "plot_cost_heatmap",
    "plot_fan",
    "plot_fleet",
    "plot_interactivity_frontier",
    "plot_pareto",
    "plot_sensitivity",
    "plot_tco_breakdown",
    "standard_figures",
]


def left_out_figures(ds: xr.Dataset) -> dict[str, str]:
    """Return the standard figures that would show nothing for ``ds``, each with the reason.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result.

    Returns
    -------
    dict of str to str
        File stem -> why it is not drawn: the comparisons (``cost_heatmap``, ``pareto``,
        ``sensitivity``) need a swept dimension, the fan chart needs Monte Carlo draws.
    """
    swept = [dim for dim in scenario_dims(ds["status"]) if ds.sizes[dim] > 1]
    left_out = {}
    if not swept:
        reason = "one scenario: nothing to compare"
        left_out |= dict.fromkeys(("cost_heatmap", "pareto", "sensitivity"), reason)
    if SAMPLE not in ds.dims:
        left_out["fan"] = "no Monte Carlo draws"
    return left_out


def standard_figures(ds: xr.Dataset) -> dict[str, Figure]:
    """Return the report's figures with default settings, keyed by file stem.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result.

    Returns
    -------
    dict of str to matplotlib.figure.Figure
        ``tco_breakdown``, ``cost_heatmap``, ``pareto``, ``fleet``, ``sensitivity`` and, with
        Monte Carlo draws, ``fan``; those of :func:`left_out_figures` are not drawn.
    """
    drawers = {
        "tco_breakdown": plot_tco_breakdown,
        "cost_heatmap": plot_cost_heatmap,
        "pareto": plot_pareto,
        "fleet": plot_fleet,
        "sensitivity": plot_sensitivity,
        "fan": plot_fan,
    }
    skip = left_out_figures(ds)
    return {name: draw(ds) for name, draw in drawers.items() if name not in skip}

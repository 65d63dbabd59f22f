"""Matplotlib figures of a fleetsim result Dataset.

Every function returns a :class:`matplotlib.figure.Figure` drawn on an Agg canvas (no pyplot
state, no display needed) with constrained layout. Axis labels are ``long_name [units]`` from
the variables' attributes. A Monte Carlo ``sample`` dimension is reduced to its mean first.
Scenario selections are ``{dimension: label}`` dicts; dimensions left out default to the
scenario with the lowest TCO among those matching the selection.

Modules: :mod:`.style` (sizes, formats, labels), :mod:`.tco` (TCO lines and fleet over years),
:mod:`.heatmap`, :mod:`.pareto` (trade-off fronts), :mod:`.sensitivity` (tornado).
"""

from __future__ import annotations

import xarray as xr
from matplotlib.figure import Figure

from fleetsim.analysis.plots.heatmap import plot_cost_heatmap
from fleetsim.analysis.plots.pareto import (
    draw_interactivity_frontier,
    plot_interactivity_frontier,
    plot_pareto,
)
from fleetsim.analysis.plots.sensitivity import plot_sensitivity
from fleetsim.analysis.plots.style import COMPACT, FIGSIZE, STYLE, axis_label, compact
from fleetsim.analysis.plots.tco import plot_fleet, plot_tco_breakdown

__all__ = [
    "COMPACT",
    "FIGSIZE",
    "STYLE",
    "axis_label",
    "compact",
    "draw_interactivity_frontier",
    "plot_cost_heatmap",
    "plot_fleet",
    "plot_interactivity_frontier",
    "plot_pareto",
    "plot_sensitivity",
    "plot_tco_breakdown",
    "standard_figures",
]


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

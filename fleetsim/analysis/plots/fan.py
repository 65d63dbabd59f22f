"""Fan charts of a Monte Carlo result: the P10-P90 band and the P50 line of variables over years."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import matplotlib as mpl
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from fleetsim.analysis.dims import SAMPLE, YEAR
from fleetsim.analysis.plots.style import (
    COMPACT,
    COST,
    STYLE,
    Selection,
    axis_label,
    fmt,
    for_display,
    hue_and_fixed,
    legend_below,
    new_figure,
    no_data,
    set_title,
    words,
)
from fleetsim.analysis.quantiles import quantiles

#: the band's edges and the line
LOW, MIDDLE, HIGH = 0.1, 0.5, 0.9
FAN_VARIABLES = ("tco_usd", COST)


def _fan_panel(ax: Axes, da: xr.DataArray, hue: Hashable | None) -> None:
    """Draw P10-P90 bands and P50 lines of one per-year variable, one per ``hue`` label."""
    spread = for_display(quantiles(da.to_dataset(), (LOW, MIDDLE, HIGH))[da.name])
    lines = (
        [(label, spread.sel({hue: label})) for label in spread[hue].values]
        if hue
        else [("", spread)]
    )
    for label, line in lines:
        if bool(line.isnull().all()):
            continue
        years = line[YEAR].values
        low, middle, high = (line.sel(quantile=q).values for q in (LOW, MIDDLE, HIGH))
        (drawn,) = ax.plot(years, middle, marker="o", ms=4, label=fmt(label))
        ax.fill_between(years, low, high, color=drawn.get_color(), alpha=0.25, lw=0)
    if not ax.lines:
        no_data(ax, "infeasible in every draw")
    ax.set_xlabel(axis_label(da[YEAR]))
    ax.set_ylabel(axis_label(spread))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(COMPACT)


def plot_fan(
    ds: xr.Dataset,
    variables: Sequence[str] = FAN_VARIABLES,
    sel: Selection | None = None,
    hue: Hashable | None = None,
) -> Figure:
    """Fan charts over years of a Monte Carlo result: the P10-P90 band and the P50 line.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result with a ``sample`` dimension.
    variables : sequence of str, default ("tco_usd", "cost_per_million_output_tokens_usd")
        Per-year variables, one panel each.
    sel : mapping, optional
        Labels of the dimensions other than ``hue``; missing ones default to the scenario with
        the lowest mean TCO.
    hue : hashable, optional
        Dimension drawn as one band per label. Default: ``hardware`` (``mix`` in a mix run);
        ignored when it has a single value.

    Returns
    -------
    matplotlib.figure.Figure
        Draws infeasible in a scenario are left out of its quantiles (NaN skipped).

    Raises
    ------
    ValueError
        If ``ds`` has no ``sample`` dimension.
    """
    if SAMPLE not in ds.dims:
        raise ValueError(f"a fan chart needs Monte Carlo draws (a '{SAMPLE}' dimension)")
    hue_dim, fixed = hue_and_fixed(ds, hue, sel)
    fig = new_figure("fan")
    with mpl.rc_context(STYLE):
        axes = fig.subplots(1, len(variables), squeeze=False)[0]
        for ax, name in zip(axes, variables, strict=True):
            _fan_panel(ax, ds[name].sel(fixed), hue_dim)
        title = f"P50 and P10-P90 band over {ds.sizes[SAMPLE]:,} Monte Carlo draws"
        set_title(fig, title, fixed, ds)
        if hue_dim is not None:
            legend_below(fig, axes[0], words(ds[hue_dim]))
    return fig

"""A variable over two swept dimensions as a heatmap (bars when only one is swept)."""

from __future__ import annotations

from collections.abc import Hashable

import matplotlib as mpl
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fleetsim.analysis.dims import at_year, mean_over_samples, scenario_dims
from fleetsim.analysis.plots.style import (
    COMPACT,
    COST,
    STYLE,
    Selection,
    axis_label,
    compact,
    complete_selection,
    fmt,
    for_display,
    new_figure,
    set_ticks,
    set_title,
    words,
    year_text,
)

#: heatmaps with at most this many cells get their values written in
MAX_ANNOTATED_CELLS = 100


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
    set_ticks(ax, "x", [fmt(v) for v in grid[x].values])
    set_ticks(ax, "y", [fmt(v) for v in grid[y].values])
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
    labels = [fmt(v) for v in line[dim].values] if dim is not None else [""]
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
    set_ticks(ax, "x", labels)
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
        Variable to colour by (power is shown in kW or MW). [its registry units]
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
    da = for_display(mean_over_samples(at_year(ds[var], year)))
    dims = _heatmap_dims(da, x, y)
    fixed = {dim: label for dim, label in complete_selection(da, sel).items() if dim not in dims}
    grid = da.sel(fixed)
    fig = new_figure("cost_heatmap")
    with mpl.rc_context(STYLE):
        ax = fig.add_subplot()
        set_title(ax, f"{words(ds[var])}{year_text(ds[var], year)}", fixed, ds)
        if len(dims) == 2:
            _draw_heatmap(fig, ax, grid, dims[0], dims[1])
        else:
            _draw_bars(ax, grid, dims[0] if dims else None)
    return fig

"""Trade-off figures: cost against latency, and throughput against interactivity.

The Pareto front of cost and latency; the serving frontier of throughput per accelerator against
tokens per second per user.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import matplotlib as mpl
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fleetsim.analysis.dims import mean_over_samples, scenario_dims
from fleetsim.analysis.pareto import interactivity_frontier, pareto_front
from fleetsim.analysis.plots.style import (
    COST,
    STYLE,
    axis_label,
    fmt,
    new_figure,
    no_data,
    option_dim,
    set_title,
    words,
    year_text,
)
from fleetsim.analysis.selection import scenario_table


def _annotate_front(ax: Axes, front: Any, cost: str, latency: str, dims: list[Hashable]) -> None:
    """Label each Pareto point with its scenario's labels along the swept dimensions.

    Scenarios at the same point (ties, e.g. a swept setting that changes nothing) share one
    label listing their values as ``a/b/c``, so labels never print on top of each other.
    """
    for (x, y), group in front.groupby([latency, cost], sort=False):
        parts = ("/".join(dict.fromkeys(fmt(value) for value in group[dim])) for dim in dims)
        ax.annotate(", ".join(parts), (x, y), xytext=(6, 4), textcoords="offset points", fontsize=9)


def _log_if_wide(ax: Axes, values: Any, axis: str) -> None:
    """Use a log scale on ``axis`` when positive values span more than two decades."""
    values = np.asarray(values, dtype=float)
    if values.size and values.min() > 0 and values.max() / values.min() > 100:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def _plain_axes(ax: Axes) -> None:
    """Write tick labels as plain numbers: no offset such as "1e-5+1.032e-1" on near-equal values.

    A linear axis whose points span less than 2 % of their size is widened to +-5 % around them,
    so near-equal values (the same TTFT on every option) read as one value.
    """
    points = np.concatenate([c.get_offsets() for c in ax.collections]) if ax.collections else None
    for index, axis in enumerate("xy"):
        scale, set_limits = (
            (ax.get_xscale, ax.set_xlim) if axis == "x" else (ax.get_yscale, ax.set_ylim)
        )
        if scale() != "linear":
            continue
        ax.ticklabel_format(axis=axis, style="plain", useOffset=False)
        if points is None or not len(points):
            continue
        low, high = float(points[:, index].min()), float(points[:, index].max())
        middle = (low + high) / 2
        if middle and high - low < 0.02 * abs(middle):
            set_limits(middle - 0.05 * abs(middle), middle + 0.05 * abs(middle))


def plot_pareto(
    ds: xr.Dataset,
    cost: str = COST,
    latency: str = "ttft_s",
    year: int | None = None,
    hue: Hashable | None = None,
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
    hue : hashable, optional
        Dimension whose labels colour the points. Default: ``hardware``, or ``mix`` for a
        hardware-mix run.

    Returns
    -------
    matplotlib.figure.Figure
        Infeasible scenarios are left out.
    """
    ds = mean_over_samples(ds)
    hue = option_dim(ds) if hue is None else hue
    points = scenario_table(ds, [cost, latency], year).dropna(subset=[cost, latency])
    front = pareto_front(ds, cost, latency, year)
    swept = [dim for dim in scenario_dims(ds[cost]) if ds.sizes[dim] > 1]
    fig = new_figure("pareto")
    with mpl.rc_context(STYLE):
        ax = fig.add_subplot()
        set_title(ax, f"Cost against latency{year_text(ds[cost], year)}", {})
        ax.set_xlabel(axis_label(ds[latency]))
        ax.set_ylabel(axis_label(ds[cost]))
        if points.empty:
            no_data(ax, "no feasible scenario")
            return fig
        groups = points.groupby(hue, sort=False) if hue in points else [("all", points)]
        for label, group in groups:
            ax.scatter(group[latency], group[cost], s=30, alpha=0.8, label=fmt(label))
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
        _plain_axes(ax)
        ax.legend(title=words(ds[hue]) if hue in points else None, loc="best")
    return fig


def draw_interactivity_frontier(
    ax: Axes,
    front: Any,
    throughput: str = "tokens_per_s_per_accelerator",
    hue: Hashable = "hardware",
) -> None:
    """Draw frontier curves (from :func:`fleetsim.analysis.interactivity_frontier`) on ``ax``."""
    ax.set_xlabel("tokens per second per user (1 / TPOT)")
    ax.set_ylabel("generated tokens per second per accelerator")
    if len(front) == 0:
        no_data(ax, "no feasible scenario")
        return
    groups = front.groupby(hue, sort=False) if hue in front else [("all", front)]
    for label, curve in groups:
        ax.plot(curve["tokens_per_s_per_user"], curve[throughput], marker="o", ms=4,
                label=fmt(label))  # fmt: skip
    _log_if_wide(ax, front["tokens_per_s_per_user"], "x")
    _log_if_wide(ax, front[throughput], "y")
    ax.grid(True, alpha=0.3)
    ax.legend(title=str(hue) if hue in front else None, loc="best")


def plot_interactivity_frontier(
    ds: xr.Dataset,
    hue: Hashable = "hardware",
    throughput: str = "tokens_per_s_per_accelerator",
) -> Figure:
    """Throughput per accelerator against interactivity (tokens/s per user), one curve per ``hue``.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result swept over what moves the operating point (the TPOT target, the
        concurrency, the layout).
    hue : hashable, default "hardware"
        Dimension whose labels make separate curves.
    throughput : str, default "tokens_per_s_per_accelerator"
        Per-accelerator throughput variable. [s-1]

    Returns
    -------
    matplotlib.figure.Figure
        The curves of :func:`fleetsim.analysis.interactivity_frontier`.
    """
    front = interactivity_frontier(ds, by=(hue,), throughput=throughput)
    fig = new_figure("pareto")
    with mpl.rc_context(STYLE):
        ax = fig.add_subplot()
        set_title(ax, "Throughput against interactivity", {})
        draw_interactivity_frontier(ax, front, throughput, hue)
    return fig

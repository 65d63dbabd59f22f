"""Tornado chart of the one-at-a-time sensitivity of a variable."""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from fleetsim.analysis.dims import mean_over_samples
from fleetsim.analysis.plots.style import (
    COMPACT,
    STYLE,
    Selection,
    axis_label,
    complete_selection,
    fmt,
    new_figure,
    no_data,
    set_title,
    words,
    year_text,
)
from fleetsim.analysis.sensitivity import sensitivity


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
            fmt(label),
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
        baseline = complete_selection(ds[var])
        table = sensitivity(ds, var, year, baseline)
    fig = new_figure("sensitivity")
    with mpl.rc_context(STYLE):
        ax = fig.add_subplot()
        ax.set_xlabel(axis_label(ds[var]))
        ax.xaxis.set_major_formatter(COMPACT)
        base_labels = dict(zip(table["dim"], table["baseline"], strict=True))
        title = f"Sensitivity of {words(ds[var])}{year_text(ds[var], year)}; baseline:"
        set_title(ax, title, base_labels, ds)
        if table.empty or np.isnan(table["value_at_baseline"].iloc[0]):
            no_data(ax, "no swept dimension" if table.empty else "baseline is infeasible")
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

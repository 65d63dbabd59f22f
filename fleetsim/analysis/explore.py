"""The report's interactive view: the whole N-d Dataset as JSON for the page's Plotly controller.

The page (``templates/explore.js``) lets a reader pick a variable and any two dimensions (a
heatmap; or one dimension: a line per label of a second) with every other dimension as a
selector. This module only packs the data: labels of every dimension (and whether they are
numbers, drawn as a line, or categories, drawn as bars), and for each numeric variable its
dimensions, display name and unit (power in kW or MW), and its values in C order (NaN as
``null``). Variables that are NaN everywhere (the prefill pool of an aggregated run) are left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from fleetsim.analysis.plots.style import axis_label, display_units, fmt, for_display, words

#: most values the page holds (all variables together); beyond, variables are left out
MAX_VALUES = 2_000_000
#: shown first in the variable list, when present
FIRST = ("tco_usd", "cost_per_million_output_tokens_usd", "accelerators", "facility_power_w",
         "utilisation", "ttft_p99_s", "tpot_p99_s")  # fmt: skip


def _values(da: xr.DataArray) -> list[float | None]:
    flat = np.asarray(da.values, dtype=np.float64).ravel()
    rounded = [float(f"{v:.6g}") if np.isfinite(v) else None for v in flat.tolist()]
    return rounded


def payload(ds: xr.Dataset, max_values: int = MAX_VALUES) -> dict[str, Any]:
    """Return the interactive view's data for ``ds``.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result (any dimensions, shards merged).
    max_values : int
        Most values packed; variables past it (in :data:`FIRST`, then registry order) are left
        out and listed in ``left_out``.

    Returns
    -------
    dict
        ``dims`` (name -> {"label", "labels", "numeric"}), ``variables`` (name -> {"label", "units",
        "dims", "values"}), ``order`` (variable names as listed) and ``left_out``.
    """
    names = [n for n in FIRST if n in ds] + [
        n
        for n, v in ds.data_vars.items()
        if n not in FIRST and n != "status" and np.issubdtype(v.dtype, np.number)
    ]
    names = [n for n in names if not bool(ds[n].isnull().all())]
    dims: dict[str, dict[str, Any]] = {}
    variables: dict[str, dict[str, Any]] = {}
    left_out: list[str] = []
    used = 0
    for name in names:
        da = for_display(ds[name])
        if used + da.size > max_values:
            left_out.append(name)
            continue
        used += da.size
        for dim in da.dims:
            if dim not in dims:
                labels = ds[dim].values if dim in ds.coords else np.arange(ds.sizes[dim])
                dims[str(dim)] = {
                    "label": axis_label(ds[dim]) if dim in ds.coords else str(dim),
                    "labels": [fmt(label) for label in labels.tolist()],
                    "numeric": bool(np.issubdtype(labels.dtype, np.number)),
                }
        variables[name] = {
            "label": words(da),
            "units": display_units(da),
            "dims": [str(d) for d in da.dims],
            "values": _values(da),
        }
    return {"dims": dims, "variables": variables, "order": list(variables), "left_out": left_out}

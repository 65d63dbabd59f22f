"""Why scenarios are infeasible: the ``status`` flags in words."""

from __future__ import annotations

import numpy as np
import xarray as xr


def decode_status(ds: xr.Dataset) -> xr.DataArray:
    """Translate the integer ``status`` variable into its flag-meaning words.

    Parameters
    ----------
    ds : xarray.Dataset
        A fleetsim result whose ``status`` has CF ``flag_values`` and ``flag_meanings``.

    Returns
    -------
    xarray.DataArray
        String labels (e.g. ``"feasible"``, ``"weights_do_not_fit"``) with the dimensions of
        ``status``; codes missing from ``flag_values`` become ``"unknown"``.
    """
    status = ds["status"]
    codes = np.atleast_1d(status.attrs["flag_values"]).astype(int).tolist()
    meanings = dict(zip(codes, status.attrs["flag_meanings"].split(), strict=True))
    values = np.asarray(status.values)
    words = np.array([meanings.get(int(code), "unknown") for code in values.ravel()], dtype=str)
    labels = status.copy(data=words.reshape(values.shape))
    labels.name = "status_label"
    labels.attrs = {"long_name": "scenario feasibility status"}
    return labels

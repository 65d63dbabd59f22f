"""The kernel: evaluate scenarios ``lo .. hi-1`` of a sweep, in parallel, into preallocated arrays.

Each scenario is decoded from its flat index over the swept axes (C order, last axis fastest);
the Cartesian product of inputs is never materialised. A scenario's parameters are the base
vector (one value per :data:`fleetsim.config.FIELDS` entry, in SI) with the swept slots replaced
by that scenario's axis values. Physics per replica (DESIGN.md section 3) gives the operating
point; the fleet loop over years (section 4) sizes and prices it. Infeasible scenarios get a
status code from :mod:`fleetsim.status` and NaN outputs. No I/O, no Python objects.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from fleetsim import status as st
from fleetsim._jit import kernel_jit
from fleetsim.fleet.years import fleet_years
from fleetsim.layout import P_COOLING, P_FABRIC, P_HARDWARE, P_MODEL
from fleetsim.physics.operating_point import replica_operating_point

#: block of consecutive scenarios one thread evaluates with one set of scratch arrays
BLOCK = 256


@kernel_jit
def evaluate(
    lo, hi, base, axis_param, axis_offset, axis_length, axis_values, years,
    hardware, models, fabrics, cooling, dtype_bytes, compute_column,
    out_scenario, out_year, out_status,
):  # fmt: skip
    """Evaluate flat scenario indices ``lo <= i < hi`` into row ``i - lo`` of the outputs.

    Parameters
    ----------
    lo, hi : int
        Flat index range of the sweep to evaluate.
    base : ndarray
        float64 ``(n_fields,)`` scenario parameters in SI (indexes: :data:`fleetsim.config.FIELDS`).
    axis_param, axis_offset, axis_length : ndarray
        int64 ``(n_axes,)``: parameter slot, offset into ``axis_values`` and length of each axis.
    axis_values : ndarray
        float64, all axes' values (SI, or integer codes for catalog ids and labels), concatenated.
    years : int
        Horizon in years.
    hardware, models, fabrics, cooling : ndarray
        Catalog tables in the column order of this module's ``*_COLUMNS`` (SI).
    dtype_bytes : ndarray
        Bytes per element by dtype code (:data:`fleetsim.precision.BYTES_PER_ELEMENT`).
    compute_column : ndarray
        int64 hardware column of the peak FLOP/s that computes each weight dtype.
    out_scenario : ndarray
        float64 ``(hi - lo, len(SCENARIO_OUTPUTS))``, written.
    out_year : ndarray
        float64 ``(hi - lo, len(YEAR_OUTPUTS), years)``, written.
    out_status : ndarray
        int8 ``(hi - lo,)``, written with :mod:`fleetsim.status` codes.
    """
    n = hi - lo
    n_blocks = (n + BLOCK - 1) // BLOCK
    n_axes = axis_param.shape[0]
    for block in prange(n_blocks):
        p = base.copy()
        bought = np.zeros(years)
        spend = np.zeros(years)
        for row in range(block * BLOCK, min(n, (block + 1) * BLOCK)):
            rest = lo + row
            for k in range(n_axes - 1, -1, -1):
                length = axis_length[k]
                p[axis_param[k]] = axis_values[axis_offset[k] + rest % length]
                rest //= length
            o, oy = out_scenario[row], out_year[row]
            code = replica_operating_point(p, hardware[int(p[P_HARDWARE])], models[int(p[P_MODEL])],
                                           fabrics[int(p[P_FABRIC])], dtype_bytes, compute_column, o)  # fmt: skip
            if code == st.FEASIBLE:
                code = fleet_years(p, hardware[int(p[P_HARDWARE])], fabrics[int(p[P_FABRIC])],
                                   cooling[int(p[P_COOLING])], o, oy, bought, spend)  # fmt: skip
            out_status[row] = code
            if code != st.FEASIBLE and code != st.ZERO_DEMAND:
                out_scenario[row, :] = np.nan
                out_year[row, :, :] = np.nan

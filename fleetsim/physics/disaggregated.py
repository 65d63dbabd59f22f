r"""Disaggregated serving: a decode pool and a prefill pool, the prompt's KV cache sent between them.

DistServe (Zhong et al., OSDI 2024, arXiv:2401.09670), Splitwise (Patel et al., ISCA 2024,
arXiv:2311.18677) and Mooncake (Qin et al., FAST 2025, arXiv:2407.00079) run prompts and
decoding on separate replicas, so neither phase interferes with the other:

* the **decode pool** runs pure decode steps. Its replicas receive each prompt's KV cache
  whole, which is to them a prefix-cache hit of the entire prompt (vLLM's disaggregated
  connector presents it so), and the TTFT target binds the prefill pool instead. So its
  operating point is :func:`fleetsim.physics.operating_point.operating_point_at` with
  every prompt token cached, no prompt steps (``whole`` mode, which has no step token budget
  sized for prompt chunks) and no TTFT bound: the batch, TPOT and its quantile are the
  aggregated model's, minus the prompts.
* the **prefill pool** runs whole-prompt passes (:func:`fleetsim.physics.serving.prefill_time`,
  one prompt per attention data-parallel group, ``pp`` prompts in flight in a pipeline), with its
  own layout, on its own hardware (``deployment.prefill_hardware``). A request's TTFT is the
  M/G/1 wait for the prefill path, the prefill, and the **KV transfer** of the whole prompt's
  cache (cached prefix included: the decode replica needs all of it) at the cache precision
  (:mod:`fleetsim.physics.prefill_pool`).

The pools are sized independently: per unit of traffic, prefill replicas follow from the prompt
rate and the prefill throughput at the utilisation the TTFT target allows, decode replicas from
the decode throughput at the TPOT target. Each pool's layout is the one whose fleet needs the
fewest accelerators for the scenario's demand over the horizon
(:func:`fleetsim.physics.layout_search.search_layout`: whole replicas, spares and servers, so
low demand gets small replicas), the decode pool's first and the prefill pool's beside it; the
prefill:decode ratio that results is the cheapest that meets both targets for the pools'
hardware (every accelerator of a pool costs the same, and neither pool's target depends on the
other's layout except through the link, which the prefill search takes into account for the
decode layout chosen).
"""

from __future__ import annotations

import math

import numpy as np

from fleetsim import status as st
from fleetsim._jit import jit
from fleetsim.config import PREFILL_MODES
from fleetsim.fleet.facility import derate_for_rack_density
from fleetsim.layout import (
    H_SCALEOUT,
    P_COOLING,
    P_DRAFT,
    P_FABRIC,
    P_MODEL,
    P_PREFILL,
    P_PREFILL_HW,
    P_PREFIX,
    P_TTFT,
    S_CLOCK,
)  # fmt: skip
from fleetsim.physics.layout_search import DECODE_POOL, PREFILL_POOL, search_layout

#: kernel code of ``deployment.prefill=whole``: the decode pool runs no prompt chunks
PREFILL_WHOLE = float(PREFILL_MODES.index("whole"))


@jit
def decode_pool_operating_point(p, hw, md, md_draft, fb, dtype_bytes, compute_column, years, o):
    """Find the decode pool's replica operating point into ``o`` (module notes); return its status.

    ``p`` is changed for the call (every prompt token cached, whole-prompt mode, no TTFT bound)
    and restored. Parameters as in :func:`fleetsim.physics.layout_search.search_layout`.
    """
    mode, prefix, ttft = p[P_PREFILL], p[P_PREFIX], p[P_TTFT]
    p[P_PREFILL], p[P_PREFIX], p[P_TTFT] = PREFILL_WHOLE, 1.0, math.inf
    code = search_layout(DECODE_POOL, p, hw, md, md_draft, fb, dtype_bytes, compute_column, False,
                         0.0, years, o)  # fmt: skip
    p[P_PREFILL], p[P_PREFIX], p[P_TTFT] = mode, prefix, ttft
    return code


@jit
def prefill_hardware_row(p, hardware_index, hardware, cl, hw_out) -> float:
    """Write the prefill pool's hardware row, derated for rack density; return its clock scale.

    ``deployment.prefill_hardware`` (-1: the decode pool's row ``hardware_index``), derated as
    :func:`fleetsim.fleet.facility.derate_for_rack_density` derates the decode pool's.
    """
    row = int(p[P_PREFILL_HW]) if p[P_PREFILL_HW] >= 0.0 else hardware_index
    return derate_for_rack_density(p, hardware[row], cl, hw_out)


@jit
def disaggregated_physics(p, hardware_index, hardware, models, fabrics, cooling, dtype_bytes,
                          compute_column, years, hw, o):  # fmt: skip
    """Find both pools' operating points into ``o``; return the status code.

    The decode pool's replica fills the scenario's replica outputs (and ``hw`` its derated
    hardware row, as :func:`fleetsim.fleet.mix.pool_physics` does), the prefill pool's the
    ``prefill_*`` and ``kv_*`` outputs, ``prefill_time_s`` and the TTFTs. Parameters as in
    :func:`fleetsim.fleet.mix.pool_physics`.

    Returns
    -------
    int
        FEASIBLE, or the first failing check's code (rack density, then the decode pool).
    """
    fb, cl = fabrics[int(p[P_FABRIC])], cooling[int(p[P_COOLING])]
    clock = derate_for_rack_density(p, hardware[hardware_index], cl, hw)
    if clock <= 0.0:
        return st.RACK_POWER_EXCEEDED
    hw_prefill = np.empty(hardware.shape[1])
    if prefill_hardware_row(p, hardware_index, hardware, cl, hw_prefill) <= 0.0:
        return st.RACK_POWER_EXCEEDED
    model = models[int(p[P_MODEL])]
    draft = models[int(p[P_DRAFT])] if p[P_DRAFT] >= 0.0 else model
    o[S_CLOCK] = clock
    code = decode_pool_operating_point(p, hw, model, draft, fb, dtype_bytes, compute_column, years,
                                       o)  # fmt: skip
    if code != st.FEASIBLE:
        return code
    shared = p[P_PREFILL_HW] < 0.0 or int(p[P_PREFILL_HW]) == hardware_index
    return search_layout(PREFILL_POOL, p, hw_prefill, model, draft, fb, dtype_bytes, compute_column,
                         shared, hw[H_SCALEOUT], years, o)  # fmt: skip

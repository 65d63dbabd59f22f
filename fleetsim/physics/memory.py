"""Accelerator memory budget: how many sequences' KV caches fit beside the weights."""

from __future__ import annotations

import math

from fleetsim._jit import jit


@jit
def max_batch_size(
    memory_capacity: float, reserve_frac: float, weight_bytes: float, sequence_kv_bytes: float
) -> float:
    r"""Return the largest number of concurrent sequences whose KV cache fits.

    Parameters
    ----------
    memory_capacity : float
        Accelerator memory of the whole replica (t x p accelerators). [B]
    reserve_frac : float
        Fraction of memory reserved for activations, workspace and fragmentation. [1]
    weight_bytes : float
        Weights held by the replica. [B]
    sequence_kv_bytes : float
        KV cache of one sequence at its full length (S + O tokens). [B]

    Returns
    -------
    float
        :math:`\\lfloor (M (1 - r) - W) / kv_{seq} \\rfloor`; negative when the weights alone do
        not fit, zero when not even one sequence does. [1]
    """
    free = memory_capacity * (1.0 - reserve_frac) - weight_bytes
    if free < 0.0:
        return -1.0
    return math.floor(free / sequence_kv_bytes)

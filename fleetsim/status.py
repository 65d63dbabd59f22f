"""Scenario status codes written by the kernel into the ``status`` output variable.

A scenario that is physically infeasible is data, not an error: the kernel writes one of these
codes and NaN physics outputs. The codes are checked in priority order (the first failing check
wins), so each scenario carries exactly one code. CF attributes ``flag_values`` and
``flag_meanings`` let generic tools decode them.
"""

from __future__ import annotations

import numpy as np

FEASIBLE = 0
WEIGHTS_DO_NOT_FIT = 1
CONTEXT_TOO_LONG = 2
KV_DOES_NOT_FIT = 3
TPOT_UNREACHABLE = 4
TTFT_UNREACHABLE = 5
RACK_POWER_EXCEEDED = 6
ZERO_DEMAND = 7
MORE_STAGES_THAN_LAYERS = 8
LAYOUT_NOT_DIVISIBLE = 9
ENGINE_NOT_AVAILABLE = 10
KV_TRANSFER_TOO_SLOW = 11

#: code -> (flag meaning, explanation)
MEANINGS: dict[int, tuple[str, str]] = {
    FEASIBLE: ("feasible", "the scenario can be served"),
    WEIGHTS_DO_NOT_FIT: (
        "weights_do_not_fit",
        "model weights exceed the replica's usable accelerator memory",
    ),
    CONTEXT_TOO_LONG: (
        "context_too_long",
        "input + output tokens exceed the model's maximum context",
    ),
    KV_DOES_NOT_FIT: (
        "kv_does_not_fit",
        "not even one sequence's KV cache fits beside the weights",
    ),
    TPOT_UNREACHABLE: (
        "tpot_unreachable",
        "even batch 1 decodes slower than the TPOT target",
    ),
    TTFT_UNREACHABLE: (
        "ttft_unreachable",
        "prefill alone takes longer than the TTFT target",
    ),
    RACK_POWER_EXCEEDED: (
        "rack_power_exceeded",
        "one server draws more power than a rack of this cooling type can remove",
    ),
    ZERO_DEMAND: (
        "zero_demand",
        "no requests: the fleet is empty and cost per token is undefined",
    ),
    MORE_STAGES_THAN_LAYERS: (
        "more_stages_than_layers",
        "deployment.pp exceeds the model's layers: a pipeline stage must hold at least one layer",
    ),
    LAYOUT_NOT_DIVISIBLE: (
        "layout_not_divisible",
        "deployment.ep or deployment.attention_dp does not divide deployment.tp (the devices of a stage)",
    ),
    ENGINE_NOT_AVAILABLE: (
        "engine_not_available",
        "deployment.engine does not run on this accelerator (no row in data/efficiency.csv)",
    ),
    KV_TRANSFER_TOO_SLOW: (
        "kv_transfer_too_slow",
        "disaggregated serving: the link joining the prefill and decode pools cannot carry the "
        "prompts' KV cache at the planned load",
    ),
}

#: codes whose physics outputs are still finite (the serving physics worked)
SERVABLE = (FEASIBLE, ZERO_DEMAND)


def flag_attributes() -> dict[str, object]:
    """Return CF ``flag_values`` / ``flag_meanings`` attributes for the status variable."""
    codes = sorted(MEANINGS)
    return {
        "flag_values": np.array(codes, dtype=np.int8),
        "flag_meanings": " ".join(MEANINGS[c][0] for c in codes),
    }

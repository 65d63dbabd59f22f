"""Read-only analysis of a fleetsim result Dataset: tables, figures, the report.

Nothing here computes physics or cost: every function selects, reduces or reshapes variables the
simulator already wrote (see ``variables.yaml`` for their units). Infeasible scenarios carry NaN in
every float output, so the helpers skip NaN wherever they look for a best option.

Modules, one job each (the functions below are re-exported here, so ``fleetsim.analysis.cheapest``
and friends work as before):

- :mod:`~fleetsim.analysis.dims`: dimension conventions, ``at_year``, ``mean_over_samples``
- :mod:`~fleetsim.analysis.decision`: the options over the decision dimensions, ranked
- :mod:`~fleetsim.analysis.selection`: the cheapest option(s), scenarios as a table
- :mod:`~fleetsim.analysis.breakdown`: the annual TCO lines and their closure check
- :mod:`~fleetsim.analysis.pareto`: trade-off fronts (cost against latency; serving frontiers)
- :mod:`~fleetsim.analysis.sensitivity`: one-at-a-time (tornado) sensitivity
- :mod:`~fleetsim.analysis.rent`: rent-or-own break-even utilisation
- :mod:`~fleetsim.analysis.quantiles`: Monte Carlo P10/P50/P90
- :mod:`~fleetsim.analysis.feasibility`: the status flags in words
- :mod:`~fleetsim.analysis.summary`: the text the CLI prints after a run
- :mod:`~fleetsim.analysis.plots`: matplotlib figures (imported on demand: ``from
  fleetsim.analysis import plots``)
- :mod:`~fleetsim.analysis.report`: the ``fleetsim-report`` command (figures + HTML page)
"""

from fleetsim.analysis.breakdown import (
    check_tco_closure,
    tco_breakdown,
    tco_components,
    tco_residual,
)
from fleetsim.analysis.decision import DECIDE_OVER, decision_dims, decision_table
from fleetsim.analysis.dims import (
    NON_SCENARIO_DIMS,
    SAMPLE,
    YEAR,
    at_year,
    mean_over_samples,
    scenario_dims,
)
from fleetsim.analysis.feasibility import decode_status
from fleetsim.analysis.pareto import interactivity_frontier, pareto_front
from fleetsim.analysis.quantiles import quantiles
from fleetsim.analysis.rent import (
    HOURS_PER_YEAR,
    break_even_utilisation,
    fleet_break_even_utilisation,
)
from fleetsim.analysis.selection import cheapest, cheapest_scenario, scenario_table
from fleetsim.analysis.sensitivity import sensitivity

__all__ = [
    "DECIDE_OVER",
    "HOURS_PER_YEAR",
    "NON_SCENARIO_DIMS",
    "SAMPLE",
    "YEAR",
    "at_year",
    "break_even_utilisation",
    "check_tco_closure",
    "cheapest",
    "cheapest_scenario",
    "decision_dims",
    "decision_table",
    "decode_status",
    "fleet_break_even_utilisation",
    "mean_over_samples",
    "interactivity_frontier",
    "pareto_front",
    "quantiles",
    "scenario_dims",
    "scenario_table",
    "sensitivity",
    "tco_breakdown",
    "tco_components",
    "tco_residual",
]

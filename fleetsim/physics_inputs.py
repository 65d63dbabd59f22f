"""Which scenario parameters the per-replica physics reads, so the kernel can reuse its result.

A replica's operating point (:func:`fleetsim.fleet.mix.pool_physics`: rack-density derating and
:func:`fleetsim.physics.operating_point.replica_operating_point`) depends on a few parameter
slots only; prices, finance, demand, growth and the horizon enter the fleet and money over the
years after it. Scenarios that differ only in such physics-neutral slots share one operating
point, which the kernel computes once and reuses bit for bit (:mod:`fleetsim.kernel`).

The slots are read off the sources rather than listed by hand, so a new input of the physics
cannot be missed: every ``P_*`` slot constant of :mod:`fleetsim.layout` named anywhere in
``fleetsim/physics/``, in ``fleetsim/fleet/facility.py`` (the derating) or in the bodies of
``pool_physics`` and ``aggregated_physics`` counts (a name in a comment or docstring only makes
the reuse rarer, never wrong), and so does ``P_HARDWARE``, from which the kernel picks the
hardware row (or the mix's pools) it hands to ``pool_physics``. The physics receives the
parameter vector ``p`` and reads it by these constants only; ``tests/test_physics_reuse.py``
checks that changing any other slot leaves the operating point as it was.

A disaggregated fleet's pools are laid out for the scenario's demand
(:func:`fleetsim.physics.layout_search.search_layout` sizes each candidate's fleet with
:func:`fleetsim.fleet.years.accelerator_years`), so in a sweep with disaggregated scenarios the
slots that sizing reads (requests, peak, growth, spares) are physics inputs too; an aggregated
sweep keeps reusing its operating point across demand.

The fleet over the years splits the same way (:mod:`fleetsim.fleet.years`): its sizes and
capital spending (:func:`~fleetsim.fleet.years.fleet_sizes`) read the physics, demand, growth,
lifetimes, price decline and facility slots, and its running costs
(:func:`~fleetsim.fleet.years.fleet_costs`) the prices of energy, colocation, staff, software,
renting, maintenance, carbon and money. :func:`fleet_slots` are the slots the sizes read, found
the same way in the sources of ``fleet_sizes``, ``fleet_servers`` and ``pool_sizes``; scenarios
equal in them share one sized fleet, which the kernel keeps and re-prices.
"""

from __future__ import annotations

import inspect
import re
from functools import cache
from pathlib import Path

from fleetsim import layout

_PACKAGE = Path(__file__).resolve().parent
_SLOT_NAME = re.compile(r"\bP_[A-Z][A-Z0-9_]*\b")


def _physics_sources() -> list[str]:
    from fleetsim.fleet import mix

    files = sorted((_PACKAGE / "physics").glob("*.py")) + [_PACKAGE / "fleet" / "facility.py"]
    return [path.read_text() for path in files] + [
        inspect.getsource(f.py_func) for f in (mix.pool_physics, mix.aggregated_physics)
    ]


def _demand_sources() -> list[str]:
    from fleetsim.fleet import years

    return [inspect.getsource(f.py_func) for f in (years.accelerator_years, years.fleet_servers)]


def _fleet_sources() -> list[str]:
    from fleetsim.fleet import mix, years

    return [inspect.getsource(f.py_func) for f in (years.fleet_sizes, years.fleet_servers,
                                                    mix.pool_sizes)]  # fmt: skip


def _slots(texts: list[str]) -> frozenset[int]:
    names = {"P_HARDWARE"}
    for text in texts:
        names.update(_SLOT_NAME.findall(text))
    return frozenset(
        getattr(layout, name) for name in names if isinstance(getattr(layout, name, None), int)
    )


@cache
def physics_slots(disaggregated: bool = False) -> frozenset[int]:
    """Return the parameter slots (indexes into :data:`fleetsim.config.FIELDS`) the physics reads.

    Parameters
    ----------
    disaggregated : bool
        Whether the sweep has disaggregated scenarios, whose pool layouts depend on the demand.
    """
    return _slots(_physics_sources() + (_demand_sources() if disaggregated else []))


@cache
def fleet_slots(disaggregated: bool = False) -> frozenset[int]:
    """Return the slots the fleet's sizes read: :func:`physics_slots` and those of the sizing.

    Parameters
    ----------
    disaggregated : bool
        As in :func:`physics_slots`.
    """
    return physics_slots(disaggregated) | _slots(_fleet_sources())

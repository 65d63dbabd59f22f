"""The kernel reuses an operating point across physics-neutral axes, and a sized fleet across
axes that only price it, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from fleetsim import api, axes, catalog, config, layout, sweep
from fleetsim import status as st
from fleetsim.fleet.years import SIZED
from fleetsim.physics_inputs import fleet_slots, physics_slots

#: physics axes around physics-neutral ones (demand, prices, growth, discount), some of the
#: neutral ones fastest, one between physics axes; statuses feasible and not
GRID = [
    "model=[llama3.1-70b,mixtral-8x7b]",
    "hardware=[h100-sxm,mi300x]",
    "finance.discount_rate=[0.0,0.08]",
    "deployment.tp=[1,auto]",
    "workload.tpot_slo_s=[null,0.03]",
    "facility.servers_per_rack=[null,3]",
    "deployment.serving=[aggregated,disaggregated]",
    "workload.requests_per_day=[0,1e6,1e8]",
    "finance.electricity_usd_per_kwh=[0.05,0.15]",
    "workload.growth_per_year=[0,0.5]",
    "finance.years=4",
    "output.float32=false",
]


def _inputs(overrides):
    loaded = catalog.load()
    scenario = config.validate(api.compose(overrides), loaded.ids())
    grid = axes.build(scenario)
    inputs = sweep.kernel_inputs(scenario, loaded, grid)
    return inputs, axes.size(grid), scenario.years, [a.field.key for a in grid]


def test_axis_flags():
    """Demand is physics-neutral for aggregated serving; disaggregated pools are laid out for it."""
    aggregated = [g for g in GRID if not g.startswith("deployment.serving")]
    for grid, demand in ((aggregated, False), (GRID, True)):
        inputs, _, _, keys = _inputs(grid)
        flags = dict(zip(keys, inputs.axis_physics.tolist(), strict=True))
        expected = {
            "model": True, "hardware": True, "finance.discount_rate": False, "deployment.tp": True,
            "workload.tpot_slo_s": True, "facility.servers_per_rack": True,
            "workload.requests_per_day": demand, "finance.electricity_usd_per_kwh": False,
            "workload.growth_per_year": demand, "deployment.serving": True,
        }  # fmt: skip
        if not demand:
            del expected["deployment.serving"]
        assert flags == expected
    assert physics_slots(disaggregated=True) - physics_slots() == {
        layout.P_RATE,
        layout.P_PEAK,
        layout.P_GROWTH,
        layout.P_SPARE,
    }


def _together_equals_alone(grid: list[str]) -> set[int]:
    """Assert that one kernel call over ``grid`` (reusing what it may) gives every output and
    status bit for bit as each scenario evaluated alone (computed afresh); return the statuses."""
    inputs, n, years, _ = _inputs(grid)
    together = sweep.evaluate_range(inputs, years, 0, n)
    alone = [sweep.evaluate_range(inputs, years, i, i + 1) for i in range(n)]
    for k, name in enumerate(("scenario", "year", "status")):
        np.testing.assert_array_equal(
            together[k], np.concatenate([a[k] for a in alone]), err_msg=name
        )
    return set(together[2].tolist())


def test_reused_operating_point_equals_a_fresh_one():
    """One kernel call over the grid (reusing) against each scenario alone (computed afresh)."""
    codes = _together_equals_alone(GRID)
    assert {st.FEASIBLE, st.ZERO_DEMAND} <= codes, codes
    assert len(codes) > 2, codes


def test_remembered_operating_point_brings_its_derated_hardware_row():
    """A neutral axis outside a physics one that derates the hardware (servers per rack): the
    second demand's scenarios take their operating points from the kernel's memo, each with its
    own derated row (restoring only ``o`` would keep the last scenario's row)."""
    grid = [
        "model=llama3.1-70b", "hardware=b200", "workload.requests_per_day=[1e6,1e7]",
        "facility.servers_per_rack=[2,3,4]", "finance.years=3", "output.float32=false",
    ]  # fmt: skip
    inputs, n, years, keys = _inputs(grid)
    assert keys.index("workload.requests_per_day") < keys.index("facility.servers_per_rack")
    assert not inputs.axis_physics[keys.index("workload.requests_per_day")]
    together = sweep.evaluate_range(inputs, years, 0, n)
    alone = [sweep.evaluate_range(inputs, years, i, i + 1) for i in range(n)]
    for k, name in enumerate(("scenario", "year", "status")):
        np.testing.assert_array_equal(
            together[k], np.concatenate([a[k] for a in alone]), err_msg=name
        )
    power = together[1][:, layout.YEAR_OUTPUTS.index("it_power_w"), 0]
    per_accelerator = power / together[1][:, layout.YEAR_OUTPUTS.index("accelerators"), 0]
    assert len(set(np.round(per_accelerator[:3], 3))) == 3  # each density its own derated row


def _perturbed(value: float, slot: int, n_hardware: int) -> float:
    if slot == layout.P_HARDWARE:
        return float((int(value) + 1) % n_hardware)
    return 1000.0 if np.isinf(value) else value * 1.5 + 1.0


@pytest.mark.parametrize("disaggregated", [False, True])
def test_neutral_slots_leave_the_operating_point_alone(disaggregated):
    """Changing any slot outside ``physics_slots()`` changes no per-replica output."""
    serving = "deployment.serving=" + (
        "[aggregated,disaggregated]" if disaggregated else "aggregated"
    )
    inputs, n, years, _ = _inputs(
        GRID[:2] + GRID[3:6] + [serving, "finance.years=4", "output.float32=false"]
    )
    swept = set(inputs.axis_param.tolist())
    reference = sweep.evaluate_range(inputs, years, 0, n)
    servable = np.isin(reference[2], list(st.SERVABLE))
    assert servable.sum() >= 4
    neutral = [j for j in range(len(config.FIELDS)) if j not in physics_slots(disaggregated)]
    assert layout.P_HARDWARE not in neutral
    assert (layout.P_RATE in neutral) is not disaggregated
    assert layout.P_ELEC in neutral
    for slot in neutral:
        assert slot not in swept
        base = inputs.base.copy()
        base[slot] = _perturbed(base[slot], slot, inputs.hardware.shape[0])
        changed = sweep.KernelInputs(**{**inputs.__dict__, "base": base})
        s, _, status = sweep.evaluate_range(changed, years, 0, n)
        both = servable & np.isin(status, list(st.SERVABLE))
        assert both.sum() >= 4, config.FIELDS[slot].key
        np.testing.assert_array_equal(s[both], reference[0][both], err_msg=config.FIELDS[slot].key)


@pytest.mark.parametrize(("slot", "value"), [(layout.P_TPOT, 0.02), (layout.P_IN, 3000.0)])
def test_a_physics_slot_does_change_it(slot, value):
    """The check above can fail: changing a physics slot moves the operating point."""
    inputs, n, years, _ = _inputs(
        GRID[:2] + GRID[3:4] + ["finance.years=4", "output.float32=false"]
    )
    assert slot in physics_slots()
    base = inputs.base.copy()
    base[slot] = value
    changed = sweep.KernelInputs(**{**inputs.__dict__, "base": base})
    a = sweep.evaluate_range(inputs, years, 0, n)[0]
    b = sweep.evaluate_range(changed, years, 0, n)[0]
    assert not np.array_equal(a, b, equal_nan=True)


#: the fleet's sizing axes (demand, lifetime, an owned facility) around and between axes that
#: only price it (electricity, discount, staff), a rack density b200 cannot run at and zero demand
FLEET_GRID = [
    "model=llama3.1-70b",
    "hardware=[h100-sxm,b200]",
    "facility.cooling=air",
    "facility.servers_per_rack=[null,6]",
    "finance.discount_rate=[0.0,0.08]",
    "workload.requests_per_day=[0,1e6,1e8]",
    "finance.electricity_usd_per_kwh=[0.05,0.15]",
    "finance.hardware_lifetime_years=[3,5]",
    "facility.build_usd_per_kw=[null,9000]",
    "finance.staff_cost_usd_per_year=[1e5,2e5]",
    "finance.years=6",
    "output.float32=false",
]


def test_fleet_axis_flags():
    """Prices are fleet-neutral; demand, lifetimes and the facility size the fleet."""
    inputs, _, _, keys = _inputs(FLEET_GRID)
    flags = dict(zip(keys, inputs.axis_fleet.tolist(), strict=True))
    assert flags == {
        "model": True, "hardware": True, "facility.servers_per_rack": True,
        "finance.discount_rate": False,
        "workload.requests_per_day": True, "finance.electricity_usd_per_kwh": False,
        "finance.hardware_lifetime_years": True, "facility.build_usd_per_kw": True,
        "finance.staff_cost_usd_per_year": False,
    }  # fmt: skip
    assert inputs.axis_fleet[inputs.axis_physics].all()
    assert physics_slots() < fleet_slots()
    assert {layout.P_RATE, layout.P_GROWTH, layout.P_LIFE, layout.P_DECLINE} <= fleet_slots()
    assert not {layout.P_ELEC, layout.P_DISCOUNT, layout.P_COLO, layout.P_RENT} & fleet_slots()


@pytest.mark.parametrize("order", ["as listed", "prices outermost"])
def test_reused_sized_fleet_equals_a_fresh_one(order):
    """One kernel call over the grid (re-pricing kept fleets) against each scenario alone."""
    grid = FLEET_GRID
    if order == "prices outermost":  # sizing axes innermost: a fleet is never kept
        price = [g for g in grid if g.startswith(("finance.discount", "finance.electricity",
                                                   "finance.staff"))]  # fmt: skip
        grid = price + [g for g in grid if g not in price]
    codes = _together_equals_alone(grid)
    assert {st.FEASIBLE, st.ZERO_DEMAND, st.RACK_POWER_EXCEEDED} <= codes, codes


def test_fleet_neutral_slots_leave_the_sizes_alone():
    """Changing any slot outside ``fleet_slots()`` changes no sized output; changing a sizing
    slot does (so the check can fail)."""
    inputs, n, years, _ = _inputs(
        [
            g
            for g in FLEET_GRID
            if g.startswith(("model", "hardware", "facility.", "workload."))
            and not g.startswith("facility.build")
        ]  # fmt: skip
    )
    swept = set(inputs.axis_param.tolist())
    reference = sweep.evaluate_range(inputs, years, 0, n)
    servable = np.isin(reference[2], list(st.SERVABLE))
    assert servable.sum() >= 4
    sized = list(SIZED)

    def sizes(slot, value):
        base = inputs.base.copy()
        base[slot] = value
        changed = sweep.KernelInputs(**{**inputs.__dict__, "base": base})
        _, y, status = sweep.evaluate_range(changed, years, 0, n)
        np.testing.assert_array_equal(status, reference[2], err_msg=config.FIELDS[slot].key)
        return y[servable][:, sized]

    for slot in range(len(config.FIELDS)):
        if slot in fleet_slots():
            continue
        assert slot not in swept
        value = _perturbed(inputs.base[slot], slot, inputs.hardware.shape[0])
        np.testing.assert_array_equal(
            sizes(slot, value), reference[1][servable][:, sized], err_msg=config.FIELDS[slot].key
        )
    for slot in (layout.P_GROWTH, layout.P_LIFE, layout.P_DECLINE):
        assert not np.array_equal(
            sizes(slot, _perturbed(inputs.base[slot], slot, 0)), reference[1][servable][:, sized]
        ), config.FIELDS[slot].key

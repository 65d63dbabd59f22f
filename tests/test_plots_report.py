"""Figures of fleetsim.analysis.plots and the fleetsim-report command on the synthetic Dataset."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

import fleetsim.analysis as an
import fleetsim.analysis.plots as fp
import fleetsim.analysis.report as fr
from tests.oracle import POOL_OUTPUTS
from tests.synthetic import add_samples, make_dataset

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
#: (height, width) in pixels of each PNG: figure size [in] x 110 dpi
EXPECTED_PIXELS = {
    "tco_breakdown.png": (605, 990),
    "cost_heatmap.png": (660, 990),
    "pareto.png": (660, 990),
    "fleet.png": (495, 1430),
    "sensitivity.png": (550, 990),
}
LONG_NAMES = [f"accelerator-model-{i:02d}-sxm5-80gb" for i in range(12)]


@pytest.fixture
def ds() -> xr.Dataset:
    return make_dataset()


def _many_long_labels(ds: xr.Dataset) -> xr.Dataset:
    """Twelve hardware ids of 30 characters (copies of a and b)."""
    many = ds.isel(hardware=[0, 1] * 6)
    return many.assign_coords(hardware=("hardware", LONG_NAMES, ds["hardware"].attrs))


def _with_cooling(ds: xr.Dataset) -> xr.Dataset:
    """Add a third, shorter swept dimension (cooling: air, liquid)."""
    cooled = ds.expand_dims(cooling=["air", "liquid"])
    cooled["cooling"].attrs = {"long_name": "cooling"}
    return cooled.transpose("hardware", "model", "electricity_usd_per_kwh", "cooling", "year")


def _as_mix(ds: xr.Dataset) -> xr.Dataset:
    """A hardware-mix result: ``mix`` in place of ``hardware`` (c's mix does not fit)."""
    mixed = ds.rename(hardware="mix")
    return mixed.assign_coords(
        mix=("mix", ["a:1", "a:0.5+b:0.5", "c:1"], {"long_name": "hardware"})
    )


#: variables a real aggregated run leaves NaN: the prefill and decode pools of disaggregated serving
DISAGGREGATED_ONLY = POOL_OUTPUTS


def _aggregated(ds: xr.Dataset) -> xr.Dataset:
    """The synthetic result as an aggregated run writes it: the pools' variables NaN."""
    return ds.assign({name: ds[name] * np.nan for name in DISAGGREGATED_ONLY if name in ds})


VARIANTS = {
    "full": lambda ds: ds,
    "one_swept_dim": lambda ds: ds.sel(electricity_usd_per_kwh=[0.1]),
    "nothing_swept": lambda ds: ds.sel(hardware=["a"], electricity_usd_per_kwh=[0.1]),
    "samples": lambda ds: add_samples(ds, [0.9, 1.0, 1.1]),
    "all_infeasible": lambda ds: ds.sel(hardware=["c"]),
    "long_labels": _many_long_labels,
    "three_swept_dims": _with_cooling,
    "mix": _as_mix,
}
COMPARISONS = ["cost_heatmap", "fleet", "pareto", "sensitivity", "tco_breakdown"]
#: the figures each variant draws: no comparisons of one scenario, a fan chart of draws
EXPECTED_FIGURES = {variant: COMPARISONS for variant in VARIANTS} | {
    "nothing_swept": ["fleet", "tco_breakdown"],
    "samples": sorted([*COMPARISONS, "fan"]),
}


def _texts(fig: Figure) -> list[Text]:
    """Visible non-empty texts: titles, axis labels, tick labels in view, annotations, legends."""
    texts: list[Text] = [*fig.texts]
    for legend in fig.legends:
        texts += [*legend.get_texts(), legend.get_title()]
    for ax in fig.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        if ax.get_legend() is not None:
            texts += [*ax.get_legend().get_texts(), ax.get_legend().get_title()]
        texts += _tick_labels(ax.xaxis) + _tick_labels(ax.yaxis)
    return [text for text in texts if text.get_visible() and text.get_text()]


def _tick_labels(axis) -> list[Text]:
    low, high = sorted(axis.get_view_interval())
    span = high - low
    return [
        tick.label1
        for tick in axis.get_major_ticks()
        if low - 1e-9 * span <= tick.get_loc() <= high + 1e-9 * span
    ]


def _assert_readable(fig: Figure) -> None:
    """No text sticks out of the figure and no two tick labels of one axis overlap."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    bounds = fig.bbox.padded(1)
    for text in _texts(fig):
        box = text.get_window_extent(renderer)
        inside = bounds.x0 <= box.x0 and box.x1 <= bounds.x1
        inside = inside and bounds.y0 <= box.y0 and box.y1 <= bounds.y1
        assert inside, f"text {text.get_text()!r} leaves the figure"
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = [t for t in _tick_labels(axis) if t.get_visible() and t.get_text()]
            boxes = [label.get_window_extent(renderer) for label in labels]
            for (a, box_a), (b, box_b) in combinations(zip(labels, boxes, strict=True), 2):
                overlap = box_a.overlaps(box_b)
                assert not overlap, f"tick labels {a.get_text()!r} and {b.get_text()!r} overlap"


def _texts_of(fig: Figure) -> set[str]:
    return {text.get_text() for text in _texts(fig)}


def test_readability_check_catches_overlaps_and_clipping():
    crowded = Figure(figsize=(3, 2))
    FigureCanvasAgg(crowded)
    crowded.add_subplot().set_xticks(range(10), [f"long label {i}" for i in range(10)])
    with pytest.raises(AssertionError, match="leaves the figure|overlap"):
        _assert_readable(crowded)
    clipped = Figure(figsize=(3, 2))
    FigureCanvasAgg(clipped)
    clipped.add_subplot().set_title("a title far too long to fit in a figure three inches wide")
    with pytest.raises(AssertionError, match="leaves the figure"):
        _assert_readable(clipped)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_figure_is_readable_for_every_variant(ds, variant):
    figures = fp.standard_figures(VARIANTS[variant](ds))
    assert sorted(figures) == EXPECTED_FIGURES[variant]
    for name, fig in figures.items():
        assert tuple(fig.get_size_inches()) == fp.FIGSIZE[name]
        _assert_readable(fig)


def test_tco_breakdown_defaults_to_the_cheapest_scenario(ds):
    fig = fp.plot_tco_breakdown(ds)
    ax = fig.axes[0]
    assert "accelerator a, model m, electricity price 0.05 USD/kWh" in ax.get_title()
    # one bar per year of each line that is not zero throughout; no legend entry for the others
    nonzero = [n for n in an.tco_components(ds) if float(np.abs(ds[n].sel(hardware="a")).max())]
    assert len(nonzero) < len(an.tco_components(ds))  # the synthetic set has all-zero lines
    assert len(ax.patches) == len(nonzero) * 5
    legend = [text.get_text() for text in fig.legends[0].get_texts()]
    assert legend == [ds[name].attrs["long_name"] for name in nonzero]
    # a at 0.05 USD/kWh: 1000 capex + 200 energy + 200 other in year 1, then 400 a year
    assert {"1.4k", "400"} <= _texts_of(fig)
    assert ax.get_ylabel() == "annual cost [USD]"
    assert "accelerator and server purchases in the year" in _texts_of(fig)


def test_tco_breakdown_with_partial_and_infeasible_selection(ds):
    fig = fp.plot_tco_breakdown(ds, sel={"hardware": "b"})
    assert "accelerator b, model m, electricity price 0.05 USD/kWh" in fig.axes[0].get_title()
    # b at 0.05 USD/kWh in year 1: 2000 capex + 50 energy + 200 other
    assert "2.25k" in _texts_of(fig)
    infeasible = fp.plot_tco_breakdown(ds, sel={"hardware": "c", "electricity_usd_per_kwh": 0.1})
    assert "infeasible scenario: no costs" in _texts_of(infeasible)


def test_tco_breakdown_totals_stay_inside_the_axes(ds):
    # zero lines stacked on top of the tallest bar must not pin the y limit to it
    ds["staff_cost_usd"] = ds["staff_cost_usd"] * 0.0
    ds["tco_usd"] = ds["tco_usd"] - 50.0 * ds["year"]
    fig = fp.plot_tco_breakdown(ds)
    ax = fig.axes[0]
    fig.canvas.draw()
    assert ax.get_ylim()[1] > 1350.0
    renderer = fig.canvas.get_renderer()
    for text in ax.texts:
        assert ax.bbox.contains(*text.get_window_extent(renderer).corners()[1]), text.get_text()


def test_cost_heatmap_of_two_dims(ds):
    fig = fp.plot_cost_heatmap(ds)
    ax = fig.axes[0]
    fig.canvas.draw()
    assert len(ax.images) == 1
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0.05", "0.1", "0.2"]
    assert ax.get_xlabel() == "accelerator"
    assert ax.get_ylabel() == "electricity price [USD/kWh]"
    cells = [text.get_text() for text in ax.texts]
    assert sorted(cells) == sorted(["0.6", "0.8", "1.2", "0.65", "0.7", "0.8"] + ["infeasible"] * 3)
    assert "year 5" in ax.get_title()
    assert ax.get_title().startswith("cost of generated tokens, year 5")
    assert fig.axes[1].get_ylabel() == "cost of generated tokens [USD per million]"  # colour bar


def test_cost_heatmap_falls_back_to_bars(ds):
    fig = fp.plot_cost_heatmap(ds.sel(electricity_usd_per_kwh=[0.1]))
    ax = fig.axes[0]
    assert not ax.images
    assert [patch.get_height() for patch in ax.patches] == pytest.approx([0.8, 0.7, 0.0])
    assert [text.get_text() for text in ax.texts] == ["0.8", "0.7", "infeasible"]
    single = fp.plot_cost_heatmap(ds.sel(hardware=["b"], electricity_usd_per_kwh=[0.2]))
    assert [patch.get_height() for patch in single.axes[0].patches] == pytest.approx([0.8])


def test_cost_heatmap_uses_the_two_longest_dims(ds):
    fig = fp.plot_cost_heatmap(_with_cooling(ds))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "accelerator"
    assert ax.get_ylabel() == "electricity price [USD/kWh]"
    assert "cooling air" in ax.get_title()
    chosen = fp.plot_cost_heatmap(ds, x="electricity_usd_per_kwh", y="hardware")
    assert chosen.axes[0].get_xlabel() == "electricity price [USD/kWh]"


def test_pareto_scatter(ds):
    fig = fp.plot_pareto(ds)
    ax = fig.axes[0]
    front = ax.lines[0]
    assert front.get_xdata().tolist() == [0.5, 0.2]
    assert front.get_ydata().tolist() == pytest.approx([0.6, 0.65])
    assert len(ax.collections) == 2
    assert {"a, 0.05", "b, 0.05"} <= _texts_of(fig)
    assert ax.get_xlabel() == "time to first token [s]"
    empty = fp.plot_pareto(ds.sel(hardware=["c"]))
    assert "no feasible scenario" in _texts_of(empty)


def test_fleet_panels(ds):
    fig = fp.plot_fleet(ds)
    assert len(fig.axes) == 3
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels == [
        "accelerators in the fleet",
        "mean facility power [kW]",
        "mean accelerator utilisation",
    ]
    assert fig.axes[1].lines[0].get_ydata().tolist() == [8.0] * 5  # a: 8000 W
    accelerators = fig.axes[0].lines
    assert [line.get_label() for line in accelerators] == ["a", "b"]
    assert accelerators[0].get_ydata().tolist() == [8.0] * 5
    assert fig.axes[2].lines[1].get_ydata().tolist() == [0.6] * 5
    assert "electricity price 0.05 USD/kWh" in fig.get_suptitle()
    assert fig.legends[0].get_title().get_text() == "accelerator"


def test_sensitivity_tornado(ds):
    fig = fp.plot_sensitivity(ds)
    ax = fig.axes[0]
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    top_down = [label for _, label in sorted(zip(ax.get_yticks(), labels, strict=True))[::-1]]
    assert top_down == ["electricity price [USD/kWh]", "accelerator"]
    # baseline b at 0.1 USD/kWh = 3500; electricity 3250..4000, hardware b 3500..a 4000
    widths = sorted(patch.get_width() for patch in ax.patches)
    assert widths == pytest.approx([-250.0, 0.0, 500.0, 500.0])
    alignment = {text.get_text(): text.get_horizontalalignment() for text in ax.texts}
    assert alignment == {"0.05": "right", "0.2": "left", "b": "right", "a": "left"}
    flat = fp.plot_sensitivity(ds.sel(hardware=["a"], electricity_usd_per_kwh=[0.1]))
    assert "no swept dimension" in _texts_of(flat)
    assert "no change" in _texts_of(fp.plot_sensitivity(_with_cooling(ds)))
    assert "baseline is infeasible" in _texts_of(fp.plot_sensitivity(ds.sel(hardware=["c"])))


def _run_report(results: str, out: Path, capsys) -> str:
    assert fr.main([results, "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out / "index.html")
    return (out / "index.html").read_text(encoding="utf-8")


def _check_report(out: Path, page: str) -> None:
    for name, (height, width) in EXPECTED_PIXELS.items():
        png = out / name
        assert png.stat().st_size > 0
        assert matplotlib.image.imread(png).shape[:2] == (height, width)
        assert base64.b64encode(png.read_bytes()).decode("ascii") in page
        assert f'data-file="{name}"' in page
    assert page.count("<img ") == len(EXPECTED_PIXELS)
    for text in ("0.1.0", "0" * 64, "2026-01-01T00:00:00Z", "weights_do_not_fit"):
        assert text in page
    # the ranked options: b first (median TCO 3.5k over the prices), a second, c infeasible
    assert '<h2 id="options">Options ranked by TCO</h2>' in page
    assert '<h2 id="explore">Explore the results</h2>' in page
    assert "median (best-worst) over electricity price 0.05-0.2 USD/kWh" in page
    assert "<th>accelerator</th>" in page  # the decision dimension in words
    first, second = (
        page.index('<td>1</td><td>b</td><td>$3.5k<span class="spread">($3.25k-$4k)</span></td>'),
        page.index('<td>2</td><td>a</td><td>$4k<span class="spread">($3k-$6k)</span></td>'),
    )
    assert first < second
    assert "<td>0 USD (0.0e+00)</td>" in page


def test_report_from_one_file(ds, tmp_path, capsys):
    results = tmp_path / "results.nc"
    ds.to_netcdf(results, engine="netcdf4")
    out = tmp_path / "report"
    _check_report(out, _run_report(str(results), out, capsys))


def test_report_from_shards(ds, tmp_path, capsys):
    ds.isel(hardware=[0, 1]).to_netcdf(tmp_path / "shard-0.nc", engine="netcdf4")
    ds.isel(hardware=[2]).to_netcdf(tmp_path / "shard-1.nc", engine="netcdf4")
    out = tmp_path / "report"
    page = _run_report(str(tmp_path / "shard-*.nc"), out, capsys)
    _check_report(out, page)
    assert "<td>hardware</td><td>3</td>" in page


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("fleetsim-report: error: ")
    assert "Traceback" not in err
    return err


def test_report_rejects_missing_and_foreign_files(tmp_path, capsys):
    assert fr.main([str(tmp_path / "missing.nc"), "--out", str(tmp_path)]) == 2
    assert "no such file" in _one_line_error(capsys)
    assert fr.main([str(tmp_path / "none-*.nc"), "--out", str(tmp_path)]) == 2
    assert "no file matches" in _one_line_error(capsys)
    text = tmp_path / "text.nc"
    text.write_text("not a netcdf file\n")
    assert fr.main([str(text), "--out", str(tmp_path)]) == 2
    assert "cannot read" in _one_line_error(capsys)
    foreign = tmp_path / "foreign.nc"
    xr.Dataset({"x": ("t", np.arange(3.0))}).to_netcdf(foreign, engine="netcdf4")
    assert fr.main([str(foreign), "--out", str(tmp_path)]) == 2
    assert "not a fleetsim Dataset" in _one_line_error(capsys)
    assert not (tmp_path / "index.html").exists()


def test_python_dash_m_entry_point(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    run = subprocess.run(
        [sys.executable, "-m", "fleetsim.analysis.report", str(tmp_path / "missing.nc")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"fleetsim-report: error: no such file: {tmp_path / 'missing.nc'}"
    ]


IMAGE_CHECK = """<script>
window.addEventListener("load", () => {
  const rows = Array.from(document.images).map(
    (img) => `${img.dataset.file} ${img.complete} ${img.naturalWidth} ${img.naturalHeight}`);
  const out = document.createElement("pre");
  out.id = "image-check";
  out.textContent = rows.join("\\n");
  document.body.appendChild(out);
});
</script>"""


def _chromium_dump_dom(page: Path, profile: Path) -> str:
    run = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def test_index_html_images_load_in_chromium(ds, tmp_path, capsys):
    if not CHROMIUM.exists():
        if "CI" in os.environ:
            pytest.fail(f"{CHROMIUM} is missing; CI must apt-get install chromium")
        pytest.skip(f"{CHROMIUM} is not installed")
    results = tmp_path / "results.nc"
    ds.to_netcdf(results, engine="netcdf4")
    out = tmp_path / "report"
    page = _run_report(str(results), out, capsys)
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", IMAGE_CHECK + "</body>"), encoding="utf-8")
    dom = _chromium_dump_dom(probe, tmp_path / "chromium-profile")
    found = re.search(r'<pre id="image-check">(.*?)</pre>', dom, re.DOTALL)
    assert found, "the image check script did not run"
    rows = [line.split() for line in found.group(1).strip().splitlines()]
    loaded = {name: (complete, int(height), int(width)) for name, complete, width, height in rows}
    expected = {name: ("true", height, width) for name, (height, width) in EXPECTED_PIXELS.items()}
    assert loaded == expected


def test_power_is_shown_in_kilowatts_or_megawatts(ds):
    shown = fp.for_display(ds["facility_power_w"] * 1000.0)  # a: 8 MW, b: 3 MW
    assert shown.attrs["units"] == "MW"
    assert float(shown.sel(hardware="a", model="m", electricity_usd_per_kwh=0.1, year=1)) == 8.0
    assert fp.axis_label(shown) == "mean facility power [MW]"
    assert fp.for_display(ds["facility_power_w"]).attrs["units"] == "kW"
    tco = ds["tco_usd"]
    assert fp.for_display(tco) is tco  # other variables as they are
    fig = fp.plot_cost_heatmap(ds, var="facility_power_w")
    assert fig.axes[1].get_ylabel() == "mean facility power [kW]"
    assert {"8", "3"} <= _texts_of(fig)


def test_report_of_one_scenario_draws_no_empty_comparison(ds, tmp_path):
    out = tmp_path / "report"
    page = fr.write_report(VARIANTS["nothing_swept"](ds), out).read_text(encoding="utf-8")
    assert sorted(png.name for png in out.glob("*.png")) == ["fleet.png", "tco_breakdown.png"]
    assert "cost_heatmap (one scenario: nothing to compare)" in page
    assert "sensitivity (one scenario: nothing to compare)" in page
    assert page.count("<img ") == 2


def test_report_of_a_hardware_mix(ds, tmp_path, capsys):
    results = tmp_path / "mix.nc"
    _as_mix(ds).to_netcdf(results, engine="netcdf4")
    out = tmp_path / "report"
    page = _run_report(str(results), out, capsys)  # not refused for "missing hardware"
    assert "<th>hardware mix</th>" in page
    assert page.index("<td>a:0.5+b:0.5</td>") < page.index("<td>a:1</td>")  # cheaper first
    assert sorted(png.stem for png in out.glob("*.png")) == COMPARISONS
    fleet = fp.plot_fleet(_as_mix(ds))
    assert fleet.legends[0].get_title().get_text() == "hardware mix"
    assert [line.get_label() for line in fleet.axes[0].lines] == ["a:1", "a:0.5+b:0.5"]


def test_report_of_monte_carlo_draws(ds, tmp_path):
    drawn = add_samples(ds, [0.9, 1.0, 1.1])
    drawn["status"] = drawn["status"].expand_dims(sample=drawn["sample"], axis=-1)  # as a run
    out = tmp_path / "report"
    page = fr.write_report(drawn, out).read_text(encoding="utf-8")
    assert (out / "fan.png").exists()
    # 9 scenarios x 3 draws: the heading and the feasibility table count the same runs
    assert "Scenarios (9, each with 3 Monte Carlo draws: 27 runs)" in page
    assert "<th>runs (scenario x draw)</th>" in page
    assert "<td>feasible</td><td>18</td>" in page
    assert "<td>weights_do_not_fit</td><td>9</td>" in page
    assert "P50 (P10-P90) over 3 Monte Carlo draws" in page
    fig = fp.plot_fan(drawn)
    tco, cost = fig.axes[:2]
    assert "electricity price 0.05 USD/kWh" in fig.get_suptitle()  # the cheapest by mean TCO
    assert [line.get_label() for line in tco.lines] == ["a", "b"]  # c infeasible: no band
    # a at 0.05 USD/kWh: TCO 1400, 1800, ..., 3000; P10/P90 of x (0.9, 1, 1.1) = 0.92x, 1.08x
    assert tco.lines[0].get_ydata() == pytest.approx([1400, 1800, 2200, 2600, 3000])
    band = tco.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(0.92 * 1400)
    assert band.max() == pytest.approx(1.08 * 3000)
    assert cost.get_ylabel() == "cost of generated tokens [USD per million]"
    with pytest.raises(ValueError, match="Monte Carlo draws"):
        fp.plot_fan(ds)


def test_report_of_an_aggregated_run_has_no_pool_columns(ds, tmp_path):
    page = fr.write_report(_aggregated(ds), tmp_path).read_text(encoding="utf-8")
    options = page[page.index('<h2 id="options">') : page.index('<h2 id="explore">')]
    assert "<th>layout</th>" in options
    assert "prefill" not in options
    assert "decode" not in options
    assert "prefill + decode pools" in fr.write_report(ds, tmp_path / "both").read_text("utf-8")
    from fleetsim.analysis import explore

    packed = explore.payload(_aggregated(ds))
    assert not set(DISAGGREGATED_ONLY) & set(packed["variables"])
    assert packed["variables"]["facility_power_w"]["units"] == "kW"


def test_pareto_of_near_equal_latencies_has_plain_ticks(ds):
    # a mix run: every option at the same TTFT up to 1e-5 s; no "1e-5+0.103" offset on the axis
    near = ds.copy()
    near["ttft_s"] = near["ttft_s"] * 0.0 + 0.1032 + 1e-5 * (near["hardware"] == "a")
    fig = fp.plot_pareto(near)
    ax = fig.axes[0]
    fig.canvas.draw()
    assert ax.xaxis.get_offset_text().get_text() == ""
    low, high = ax.get_xlim()
    assert low == pytest.approx(0.1032 * 0.95, rel=1e-3)
    assert high == pytest.approx(0.1032 * 1.05, rel=1e-3)
    _assert_readable(fig)

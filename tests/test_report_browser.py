"""The report's interactive view in headless Chromium: the page loads with no console error, its
controls change the plot, and screenshots of two views show a drawn plot that differs."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import quote

import matplotlib.image
import numpy as np
import pytest

from fleetsim.analysis.report import write_report

from .synthetic import make_dataset

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--virtual-time-budget=15000"]  # fmt: skip

#: records every error (uncaught, console.error) from the first script on
ERRORS = """<script>
window.__errors = [];
window.addEventListener("error", (e) => window.__errors.push("uncaught: " + e.message));
const __consoleError = console.error;
console.error = (...args) => { window.__errors.push(args.join(" ")); __consoleError(...args); };
</script>"""

#: drives the controls as a reader would and writes what the plot showed after each step
PROBE = """<script>
window.addEventListener("load", () => {
  const plot = document.getElementById("explore-plot");
  const trace = () => ({ type: plot.data[0].type, mode: plot.data[0].mode || "",
                         x: plot.data[0].x.length, xaxis: plot.layout.xaxis.type,
                         rows: plot.data[0].z ? plot.data[0].z.length : 0,
                         title: plot.layout.title.text, hash: location.hash });
  const set = (id, value) => { const s = document.getElementById(id); s.value = value;
                               s.dispatchEvent(new Event("change")); };
  const steps = [trace()];
  set("explore-variable", "ttft_s");
  steps.push(trace());
  set("explore-y", "(line)");
  steps.push(trace());
  set("explore-x", "electricity_usd_per_kwh");  // a line over a number
  steps.push(trace());
  set("explore-variable", "tco_usd");  // still a line; year is now a selector
  const selector = document.querySelector('#explore-selectors select[data-dim="year"]');
  const before = JSON.stringify(plot.data[0].y);
  selector.value = String(selector.options.length - 1);
  selector.dispatchEvent(new Event("change"));
  steps.push({ ...trace(), changed: JSON.stringify(plot.data[0].y) !== before,
               selectors: document.querySelectorAll("#explore-selectors select").length });
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({ steps: steps, errors: window.__errors });
  document.body.appendChild(out);
});
</script>"""


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    if not CHROMIUM.exists():
        if "CI" in os.environ:
            pytest.fail(f"{CHROMIUM} is missing; CI must apt-get install chromium")
        pytest.skip(f"{CHROMIUM} is not installed")
    return write_report(make_dataset(), tmp_path_factory.mktemp("report"))


def test_the_view_loads_without_errors_and_its_controls_change_the_plot(page, tmp_path):
    html = page.read_text(encoding="utf-8")
    probe = tmp_path / "probe.html"
    probe.write_text(
        html.replace("<head>", "<head>" + ERRORS, 1).replace("</body>", PROBE + "</body>"),
        encoding="utf-8",
    )
    run = _chromium("--dump-dom", probe.as_uri(), profile=tmp_path / "profile")
    assert run.returncode == 0, run.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', run.stdout, re.DOTALL)
    assert found, "the probe did not run: " + run.stderr[-2000:]
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert result["errors"] == []
    first, ttft, categories, numbers, other = result["steps"]
    # default: the first variable (TCO) as a heatmap over its two longest dimensions
    assert first["type"] == "heatmap"
    assert first["title"] == "cumulative total cost of ownership [USD]"
    assert (first["x"], first["rows"]) in ((5, 3), (3, 5), (3, 3))
    assert ttft["type"] == "heatmap"
    assert ttft["title"] == "time to first token [s]"
    assert "var=ttft_s" in ttft["hash"]
    # one dimension: bars over the accelerators (no line between categories), a line over prices
    assert "x=hardware" in categories["hash"]
    assert (categories["type"], categories["mode"], categories["rows"]) == ("bar", "", 0)
    assert (numbers["type"], numbers["mode"], numbers["xaxis"]) == (
        "scatter",
        "lines+markers",
        "linear",
    )
    assert other["changed"]  # another label of a selector
    assert other["selectors"] >= 1


def _screenshot(page: Path, view: str, folder: Path) -> np.ndarray:
    png = folder / f"{len(list(folder.glob('*.png')))}.png"
    run = _chromium(f"--screenshot={png}", "--window-size=1300,1700",
                    page.as_uri() + "#" + view, profile=folder / "profile")  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert png.exists(), run.stderr[-2000:]
    return matplotlib.image.imread(png)


def test_screenshots_of_two_views_show_a_drawn_plot_that_differs(page, tmp_path):
    shots = tmp_path / "shots"
    shots.mkdir()
    heatmap = _screenshot(page, "var=tco_usd&x=electricity_usd_per_kwh&y=hardware", shots)
    line = _screenshot(page, "var=" + quote("accelerators") + "&x=hardware&y=" + quote("(line)"),
                       shots)  # fmt: skip
    assert heatmap.shape[:2] == line.shape[:2] == (1700, 1300)
    colours = np.unique((heatmap[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 100  # a colour scale, text and tables: not a blank page
    assert float(np.abs(heatmap - line).mean()) > 0.002  # the views differ
    if os.environ.get("FLEETSIM_KEEP_SCREENSHOTS"):  # for a person to look at
        keep = Path(os.environ["FLEETSIM_KEEP_SCREENSHOTS"])
        keep.mkdir(parents=True, exist_ok=True)
        for png in shots.glob("*.png"):
            (keep / png.name).write_bytes(png.read_bytes())


def test_the_view_packs_every_dimension_and_leaves_out_what_does_not_fit():
    from fleetsim.analysis import explore

    ds = make_dataset()
    data = explore.payload(ds)
    assert data["order"][0] == "tco_usd"
    tco = data["variables"]["tco_usd"]
    assert tco["dims"] == list(ds["tco_usd"].dims)
    assert tco["units"] == "USD"
    assert len(tco["values"]) == ds["tco_usd"].size
    assert data["dims"]["electricity_usd_per_kwh"]["label"] == "electricity price [USD/kWh]"
    assert data["dims"]["hardware"]["labels"] == ["a", "b", "c"]
    assert None in tco["values"]  # hardware c: NaN as null
    small = explore.payload(ds, max_values=ds["tco_usd"].size)
    assert small["order"] == ["tco_usd"]
    assert "accelerators" in small["left_out"]


#: measures, at the window's width, how far the widest tables reach and whether the page scrolls
WIDTHS = """<script>
window.addEventListener("load", () => {
  const body = document.body.getBoundingClientRect();
  const padding = parseFloat(getComputedStyle(document.body).paddingRight);
  const tables = Array.from(document.querySelectorAll("table")).map((table) => ({
    cls: table.className, right: table.getBoundingClientRect().right,
    scroll: table.scrollWidth, width: table.clientWidth }));
  const out = document.createElement("pre");
  out.id = "widths";
  out.textContent = JSON.stringify({ content_right: body.right - padding, window: innerWidth,
                                     page: document.documentElement.scrollWidth, tables: tables });
  document.body.appendChild(out);
});
</script>"""


def _with_serving(ds):
    """Add a decision dimension (serving: aggregated, disaggregated): a wider options table."""
    served = ds.expand_dims(serving=["aggregated", "disaggregated"])
    served["serving"].attrs = {"long_name": "deployment.serving"}
    return served.transpose("hardware", "model", "serving", "electricity_usd_per_kwh", "year")


@pytest.mark.parametrize("variant", ["synthetic", "with_serving"])
def test_every_table_fits_a_1300_pixel_window(page, variant, tmp_path):
    if variant == "synthetic":
        html = page.read_text(encoding="utf-8")
    else:
        html = write_report(_with_serving(make_dataset()), tmp_path / "report").read_text("utf-8")
    probe = tmp_path / "widths.html"
    probe.write_text(html.replace("</body>", WIDTHS + "</body>"), encoding="utf-8")
    run = _chromium("--window-size=1300,1700", "--dump-dom", probe.as_uri(),
                    profile=tmp_path / "profile")  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    found = re.search(r'<pre id="widths">(.*?)</pre>', run.stdout, re.DOTALL)
    assert found, "the width probe did not run: " + run.stderr[-2000:]
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert result["window"] == 1300
    assert result["page"] <= result["window"]  # no sideways scrolling
    assert "options" in [table["cls"] for table in result["tables"]]
    for table in result["tables"]:
        assert table["scroll"] <= table["width"], table  # nothing cut inside a table
        assert table["right"] <= result["content_right"] + 0.5, table  # nor at the page's edge

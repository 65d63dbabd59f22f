// The report's interactive view: pick a variable and two dimensions (a heatmap) or one (a line
// over numbers, bars over categories);
// every other dimension of the variable is a selector. The state is kept in the page's #hash
// (var=...&x=...&y=...&<dim>=<label index>) so a view can be linked to.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("explore-data").textContent);
  const $ = (id) => document.getElementById(id);
  const NONE = "(line)";
  const state = { var: data.order[0], x: null, y: null, at: {} };

  function option(select, value, text) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    select.appendChild(o);
  }

  function readHash() {
    const params = new URLSearchParams(window.location.hash.slice(1));
    if (params.has("var") && data.variables[params.get("var")]) state.var = params.get("var");
    if (params.has("x")) state.x = params.get("x");
    if (params.has("y")) state.y = params.get("y");
    for (const [key, value] of params) {
      if (data.dims[key] && !["var", "x", "y"].includes(key)) state.at[key] = Number(value);
    }
  }

  function writeHash() {
    const params = new URLSearchParams({ var: state.var, x: state.x, y: state.y });
    for (const dim of data.variables[state.var].dims) {
      if (dim !== state.x && dim !== state.y) params.set(dim, String(state.at[dim] || 0));
    }
    history.replaceState(null, "", "#" + params.toString());
  }

  // Valid x and y for the current variable: x any of its dimensions, y another one or a line.
  function settle() {
    const dims = data.variables[state.var].dims;
    const longest = [...dims].sort((a, b) => data.dims[b].labels.length - data.dims[a].labels.length);
    if (!dims.includes(state.x)) state.x = longest[0];
    if (state.y !== NONE && (!dims.includes(state.y) || state.y === state.x)) {
      state.y = longest.find((d) => d !== state.x) || NONE;
    }
    for (const dim of dims) {
      const size = data.dims[dim].labels.length;
      if (!(state.at[dim] >= 0 && state.at[dim] < size)) state.at[dim] = 0;
    }
  }

  function controls() {
    const variable = data.variables[state.var];
    for (const [id, withNone] of [["explore-x", false], ["explore-y", true]]) {
      const select = $(id);
      select.replaceChildren();
      for (const dim of variable.dims) option(select, dim, data.dims[dim].label);
      if (withNone) option(select, NONE, "none: a line over x");
    }
    $("explore-x").value = state.x;
    $("explore-y").value = state.y;
    const box = $("explore-selectors");
    box.replaceChildren();
    for (const dim of variable.dims) {
      if (dim === state.x || dim === state.y) continue;
      const label = document.createElement("label");
      label.textContent = data.dims[dim].label + " ";
      const select = document.createElement("select");
      select.dataset.dim = dim;
      data.dims[dim].labels.forEach((text, i) => option(select, String(i), text));
      select.value = String(state.at[dim]);
      select.addEventListener("change", () => {
        state.at[dim] = Number(select.value);
        draw();
      });
      label.appendChild(select);
      box.appendChild(label);
    }
  }

  function value(variable, index) {
    let flat = 0;
    let stride = 1;
    for (let k = variable.dims.length - 1; k >= 0; k--) {
      flat += index[variable.dims[k]] * stride;
      stride *= data.dims[variable.dims[k]].labels.length;
    }
    return variable.values[flat];
  }

  function draw() {
    const variable = data.variables[state.var];
    const xs = data.dims[state.x].labels;
    const index = Object.assign({}, state.at);
    const title = variable.label + (variable.units ? " [" + variable.units + "]" : "");
    const layout = {
      title: { text: title },
      margin: { t: 50, l: 120, r: 30, b: 90 },
      xaxis: { title: { text: data.dims[state.x].label }, type: "category", automargin: true },
      yaxis: { automargin: true },
    };
    let traces;
    if (state.y === NONE) {
      // numbers (a price, a year) are joined by a line on a linear axis; categories (hardware,
      // a layout) are not ordered, so each is a bar of its own
      const ys = xs.map((_, i) => value(variable, Object.assign(index, { [state.x]: i })));
      const numbers = xs.map(Number);
      if (data.dims[state.x].numeric && numbers.every(Number.isFinite)) {
        traces = [{ type: "scatter", mode: "lines+markers", x: numbers, y: ys, name: variable.label }];
        layout.xaxis.type = "linear";
      } else {
        traces = [{ type: "bar", x: xs, y: ys, name: variable.label }];
      }
      layout.yaxis.title = { text: title };
    } else {
      const rows = data.dims[state.y].labels;
      const z = rows.map((_, j) =>
        xs.map((_, i) => value(variable, Object.assign(index, { [state.x]: i, [state.y]: j }))));
      traces = [{ type: "heatmap", x: xs, y: rows, z: z, colorscale: "Viridis",
                  colorbar: { title: { text: variable.units } }, hoverongaps: false }];
      layout.yaxis.title = { text: data.dims[state.y].label };
      layout.yaxis.type = "category";
    }
    Plotly.react("explore-plot", traces, layout, { responsive: true, displaylogo: false });
    writeHash();
  }

  function change() {
    settle();
    controls();
    draw();
  }

  const pick = $("explore-variable");
  for (const name of data.order) {
    const variable = data.variables[name];
    option(pick, name, variable.label + (variable.units ? " [" + variable.units + "]" : ""));
  }
  readHash();
  pick.value = state.var;
  pick.addEventListener("change", () => { state.var = pick.value; change(); });
  $("explore-x").addEventListener("change", () => { state.x = $("explore-x").value; change(); });
  $("explore-y").addEventListener("change", () => { state.y = $("explore-y").value; change(); });
  change();
})();

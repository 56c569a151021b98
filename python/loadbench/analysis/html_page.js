// Draws a loadbench page from its model (see html_report.py): run context, summary tables and
// Plotly charts. With LOADBENCH_EVENTS set (the live dashboard) each server-sent model redraws it.
"use strict";

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf"];
// The mode bar shows on hover at the top right; the titles are left-aligned so that it never covers them.
const CONFIG = {displaylogo: false, responsive: true, showLink: false, showSendToCloud: false,
                modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"]};

function el(tag, attrs, children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const child of children || []) node.appendChild(child);
  return node;
}

function kvTable(pairs) {
  return el("table", {class: "kv"}, pairs.map(([k, v]) =>
    el("tr", {}, [el("td", {text: k}), el("td", {text: typeof v === "object" ? JSON.stringify(v) : String(v)})])));
}

// Several reports: each run is named after its report too.
function runName(model, report, run) {
  return model.reports.length > 1 ? report.context.label + ": " + run.label : run.label;
}

function contextCard(report) {
  const c = report.context;
  const card = el("div", {class: "card", "data-context": c.label}, [
    el("h3", {text: c.label}),
    kvTable([["test", c.test + (c.kind === "sweep" ? " (sweep)" : "")], ["status", c.status + (c.interrupted ? " (interrupted)" : "")],
             ["started", c.started_at], ["finished", c.finished_at]].concat(Object.entries(c.parameters))),
  ]);
  for (const [name, conn] of Object.entries(c.connectors)) {
    const settings = Object.entries(conn.settings).map(([k, v]) => k + "=" + v).join(", ");
    card.appendChild(el("div", {class: "note", text: name + " (" + conn.kind + ")" + (settings ? ": " + settings : "") +
                                                  (conn.target ? " at " + conn.target : "")}));
  }
  card.appendChild(el("h3", {text: "machine"}));
  card.appendChild(kvTable(Object.entries(c.machine)));
  card.appendChild(el("div", {class: "note", text: "versions: " +
    Object.entries(c.versions).map(([k, v]) => k + " " + v).join(", ")}));
  return card;
}

function summaryTable(report) {
  const s = report.summary;
  const head = el("tr", {}, s.header.map((h) => el("th", {text: h})));
  const rows = s.rows.map((row) => el("tr", {}, row.map((cell) =>
    el("td", {text: cell, class: /FAILED|failed:/.test(cell) ? "bad" : ""}))));
  return el("table", {class: "summary", "data-summary": report.context.label},
            [el("caption", {text: report.context.label}), el("thead", {}, [head]), el("tbody", {}, rows)]);
}

function layout(title, xaxis, yaxis, extra) {
  return Object.assign({
    title: {text: title, font: {size: 15}, x: 0, xref: "paper", xanchor: "left"},
    margin: {l: 70, r: 20, t: 48, b: 56}, hovermode: "closest",
    // automargin: the axis title gets room below the tick labels, and the legend below that (in the
    // container's bottom margin), so that the two never overlap.
    xaxis: Object.assign({zeroline: false, exponentformat: "power", automargin: true}, xaxis),
    yaxis: Object.assign({zeroline: false, rangemode: "tozero", exponentformat: "power", automargin: true}, yaxis),
    legend: {orientation: "h", yref: "container", y: 0, yanchor: "bottom", x: 0, xanchor: "left"}, height: 430,
  }, extra || {});
}

// Warmup, before the measured window opens at t = 0: shaded.
function warmupShapes(seconds) {
  if (!seconds) return {shapes: [], annotations: []};
  return {
    shapes: [{type: "rect", xref: "x", yref: "paper", x0: -seconds, x1: 0, y0: 0, y1: 1,
              fillcolor: "#98a2b3", opacity: 0.25, line: {width: 0}, layer: "below"}],
    annotations: [{x: -seconds / 2, y: 1, xref: "x", yref: "paper", text: "warmup", showarrow: false,
                   yanchor: "bottom", font: {size: 11, color: "#475467"}}],
  };
}

// Faults (bench --fault) on the TPS chart: a red band from each injection for as long as it
// lasted (at least a sliver, for an instant one), and its spec written at the top. A label that
// would run into the one before it (at about 7 px a character on a plot about 500 px wide over
// ``span`` seconds) goes a row lower, inside the plot.
function faultShapes(faults, span) {
  const shapes = [], annotations = [];
  const secondsPerChar = 7 * Math.max(span || 1, 1) / 500;
  const rowEnds = [];  // where the last label of each row ends, in seconds
  for (const f of [...faults].sort((a, b) => a.at - b.at)) {
    shapes.push({type: "rect", xref: "x", yref: "paper", x0: f.at, x1: f.at + Math.max(f.lasted, 0.15), y0: 0, y1: 1,
                 fillcolor: "#d92d20", opacity: 0.18, line: {width: 0}, layer: "below"});
    shapes.push({type: "line", xref: "x", yref: "paper", x0: f.at, x1: f.at, y0: 0, y1: 1,
                 line: {color: "#b42318", width: 1.5, dash: "dot"}});
    let row = rowEnds.findIndex((end) => end <= f.at);
    if (row < 0) row = rowEnds.length;
    rowEnds[row] = f.at + (f.spec.length + 2) * secondsPerChar;
    // Row 0 above the plot, as before; the next rows inside it, from its top down.
    annotations.push({x: f.at, y: 1, xref: "x", yref: "paper", text: f.spec, showarrow: false, xanchor: "left",
                      yanchor: row === 0 ? "bottom" : "top", yshift: row === 0 ? 0 : -2 - 15 * (row - 1),
                      bgcolor: row === 0 ? undefined : "rgba(255,255,255,0.7)", font: {size: 11, color: "#b42318"}});
  }
  return {shapes, annotations};
}

// Colours of the failure kinds (the same kind, the same colour, in every run).
const KIND_COLORS = {busy: "#f79009", serialization: "#7a5af8", deadlock: "#c11574", constraint: "#0e9384",
                     connection: "#d92d20", timeout: "#2e90fa", protocol: "#667085", other: "#344054"};
const RUN_DASHES = ["solid", "dash", "dot", "dashdot", "longdash"];

// The HdrHistogram percentile axis: x = 1/(1-q), log, ticked at 0%, 90%, 99%, 99.9%, ...
function percentileAxis(maxX) {
  const vals = [], text = [];
  for (let k = 0, x = 1; x <= Math.max(maxX, 10) * 1.0001; k++, x *= 10) {
    vals.push(x);
    text.push(k === 0 ? "0%" : (100 * (1 - 1 / x)).toFixed(Math.max(k - 2, 0)) + "%");
  }
  return {type: "log", tickvals: vals, ticktext: text, title: {text: "percentile (HdrHistogram axis: 1/(1-q))"}};
}

function charts(model) {
  const out = [];
  const runs = [];
  for (const report of model.reports) for (const run of report.runs) runs.push([report, run]);
  const color = (i) => PALETTE[i % PALETTE.length];
  const isSweep = model.reports.some((r) => r.sweep);
  const live = (model.live && model.live.runs) || [];

  const perSecond = runs.some(([, run]) => run.series);
  if (perSecond || live.length) {
    // TPS per second; the warmup (t < 0) shaded.
    const traces = [];
    let warmup = 0;
    runs.forEach(([report, run], i) => {
      if (!run.series) return;
      warmup = Math.max(warmup, run.warmup_seconds || 0);
      traces.push({x: run.series.t, y: run.series.tps, name: runName(model, report, run), mode: "lines+markers",
                   line: {color: color(i)}, hovertemplate: "%{y:,.0f} TPS at %{x:.1f} s<extra>%{fullData.name}</extra>"});
    });
    live.forEach((run, j) => {
      warmup = Math.max(warmup, run.warmup_seconds || 0);
      traces.push({x: run.t, y: run.tps, name: run.label + " (live)", mode: "lines+markers",
                   line: {color: color(runs.length + j), dash: "dot"}});
    });
    const w = warmupShapes(warmup);
    const span = Math.max(1, ...traces.flatMap((t) => t.x)) + warmup;
    const marks = faultShapes(runs.flatMap(([, run]) => run.faults || []), span);
    w.shapes = w.shapes.concat(marks.shapes);
    w.annotations = w.annotations.concat(marks.annotations);
    // A log axis when the runs differ by more than 20x (a null connector beside a database).
    const values = traces.flatMap((t) => t.y).filter((v) => v > 0);
    const spread = values.length && Math.max(...values) > 20 * Math.min(...values);
    out.push(["tps", traces, layout("Committed TPS per second", {title: {text: "seconds since the measured window opened"}},
                                    spread ? {type: "log", title: {text: "TPS (log)"}, rangemode: "normal"}
                                           : {title: {text: "TPS"}, tickformat: ",d"}, w)]);
  }

  const spectrum = [];
  let maxX = 10;
  runs.forEach(([report, run], i) => {
    if (!run.spectrum || !run.spectrum.x.length) return;
    maxX = Math.max(maxX, run.spectrum.x[run.spectrum.x.length - 1]);
    spectrum.push({x: run.spectrum.x, y: run.spectrum.y, customdata: run.spectrum.q, name: runName(model, report, run),
                   mode: "lines", line: {color: color(i), shape: "hv"},
                   hovertemplate: "p%{customdata:.4f}: %{y:.4g} ms<extra>%{fullData.name}</extra>"});
  });
  out.push(["spectrum", spectrum, layout("Latency by percentile", percentileAxis(maxX),
                                         {type: "log", title: {text: "latency (ms, log)"}, rangemode: "normal"})]);

  const cdf = [];
  runs.forEach(([report, run], i) => {
    if (!run.cdf || !run.cdf.x.length) return;
    cdf.push({x: run.cdf.x, y: run.cdf.y, name: runName(model, report, run), mode: "lines", line: {color: color(i), shape: "hv"},
              hovertemplate: "%{y:.3f}% at or below %{x:.4g} ms<extra>%{fullData.name}</extra>"});
  });
  out.push(["cdf", cdf, layout("Latency CDF", {type: "log", title: {text: "latency (ms, log)"}},
                               {title: {text: "operations at or below (%)"}, range: [0, 100.5]})]);

  if (perSecond) {
    // Failed operations per second by kind: one line per run and kind (colour: the kind; dash:
    // the run). A report from before the series counted kinds: its failures as "all kinds".
    const errors = [];
    let any = false;
    const span = Math.max(1, ...runs.flatMap(([, run]) => (run.series ? run.series.t : [])));
    const marks = faultShapes(runs.flatMap(([, run]) => run.faults || []), span);
    runs.forEach(([report, run], i) => {
      if (!run.series) return;
      const dash = RUN_DASHES[i % RUN_DASHES.length];
      if (!Object.keys(run.series.failed_by_kind).length) {  // nothing failed: its zero line
        errors.push({x: run.series.t, y: run.series.failed, name: runName(model, report, run) + ": none failed",
                     mode: "lines+markers", line: {color: color(i), dash: dash},
                     hovertemplate: "0 failed at %{x:.1f} s<extra>%{fullData.name}</extra>"});
      }
      for (const [kind, rates] of Object.entries(run.series.failed_by_kind)) {
        any = true;
        errors.push({x: run.series.t, y: rates, name: runName(model, report, run) + ": " + kind, mode: "lines+markers",
                     line: {color: KIND_COLORS[kind] || color(i), dash: dash},
                     hovertemplate: "%{y:,.1f} " + kind + "/s at %{x:.1f} s<extra>%{fullData.name}</extra>"});
      }
    });
    if (!any) errors.length = 0;  // nothing failed anywhere: the note says so, no lines at 0
    const note = any ? [] : [{text: "no failed operations", xref: "paper", yref: "paper", x: 0.5, y: 0.5, showarrow: false,
                             bgcolor: "rgba(255,255,255,0.85)",
                             font: {size: 14, color: "#475467"}}];
    out.push(["errors", errors, layout("Failed operations per second, by kind",
                                       // nothing drawn: the window's seconds, and 0 to 1 failed per second
                                       Object.assign({title: {text: "seconds since the measured window opened"}},
                                                     any ? {} : {range: [0, span]}),
                                       Object.assign({title: {text: "failed per second"}}, any ? {} : {range: [0, 1]}),
                                       // a legend even for one line: it names the kind
                                       {annotations: note.concat(marks.annotations), shapes: marks.shapes,
                                        showlegend: any})]);

    const resources = [];
    runs.forEach(([report, run], i) => {
      if (!run.resources || !run.resources.t.length) return;
      const r = run.resources;
      resources.push({x: r.t, y: r.harness_cpu, name: runName(model, report, run) + " harness CPU", mode: "lines+markers",
                      line: {color: color(i)}});
      if (r.server_cpu.some((v) => v !== null)) {
        resources.push({x: r.t, y: r.server_cpu, name: runName(model, report, run) + " server CPU", mode: "lines+markers",
                        line: {color: color(i), dash: "dash"}});
      }
    });
    out.push(["resources", resources, layout("CPU (% of one core), sampled each second",
                                             {title: {text: "seconds since the connector's run began (sessions opening, warmup, window)"}},
                                             {title: {text: "CPU %"}})]);
  }

  if (isSweep) {
    for (const [key, title, unit] of [["tps", "TPS", "committed TPS (mean ± sd)"], ["p99", "p99 latency", "p99 (ms, mean ± sd)"]]) {
      const traces = [];
      let variable = "point";
      let i = 0;
      for (const report of model.reports) {
        if (!report.sweep) continue;
        variable = report.sweep.variable;
        for (const [name, c] of Object.entries(report.sweep.curves)) {
          traces.push({x: c.x, y: c[key], error_y: {type: "data", array: c[key + "_sd"], visible: true},
                       name: model.reports.length > 1 ? report.context.label + ": " + name : name,
                       mode: "lines+markers", line: {color: color(i++)}});
        }
      }
      const integer = variable === "concurrency" || variable === "accounts" || variable === "point";
      const values = traces.flatMap((t) => t.y).filter((v) => v > 0);
      const spread = values.length && Math.max(...values) > 20 * Math.min(...values);
      out.push(["sweep-" + key, traces, layout(title + " vs " + variable,
        {title: {text: variable}, tickformat: integer ? ",d" : ""},
        spread ? {type: "log", title: {text: unit + ", log"}, rangemode: "normal"} : {title: {text: unit}})]);
    }
  }
  return out;
}

function sectionTable(header, rows, attrs) {
  return el("table", Object.assign({class: "summary"}, attrs), [
    el("thead", {}, [el("tr", {}, header.map((h) => el("th", {text: h})))]),
    el("tbody", {}, rows.map((row) => el("tr", {}, row.map((cell) =>
      el("td", {text: cell, class: /not recovered|FAILED|failed|lost/.test(cell) ? "bad" : ""})))))]);
}

// The report's optional sections: faults, distributed generators, flamegraphs.
function sections(model) {
  const out = [];
  const several = model.reports.length > 1;
  const named = (report, text) => several ? report.context.label + ": " + text : text;
  // One table per report that has the section (key: "faults", "audit"), under one heading, then a note.
  const perReport = (key, title, note) => {
    const having = model.reports.filter((r) => r.sections && r.sections[key] && r.sections[key].rows.length);
    if (!having.length) return;
    out.push(el("h2", {text: title}));
    for (const report of having) {
      const t = sectionTable(report.sections[key].header, report.sections[key].rows, {["data-" + key]: report.context.label});
      if (several) t.prepend(el("caption", {text: report.context.label}));
      out.push(t);
    }
    out.push(el("div", {class: "note", text: note}));
  };
  perReport("faults", "Faults", "times in seconds since the measured window opened; failed during: from " +
    "the injection to recovery (or the window's end); first commit and recovery: upper bounds at the per-second " +
    "series' resolution; recovery: per-second TPS back to 90% of its mean over the 5 s (or fewer whole seconds) before the fault");
  perReport("audit", "Audit of acknowledged commits", "server-confirmed: the transfers the ledger holds (client-acknowledged + " +
    "ambiguous committed); lost writes: acknowledged commits missing from the ledger; ambiguous: attempts without a " +
    "clear answer (connection lost, timeout, or the server's error) that did / did not commit; lost updates: " +
    "balances that initial + credits - debits of the ledger does not explain; durability: the server's settings");
  const distributed = model.reports.flatMap((r) => (r.sections ? r.sections.distributed : []).map((d) => [r, d]));
  if (distributed.length) {
    out.push(el("h2", {text: "Distributed generators"}));
    for (const [report, d] of distributed) {
      const t = sectionTable(d.header, d.rows, {"data-generators": named(report, d.label)});
      t.prepend(el("caption", {text: named(report, d.label) + (d.partial ? " (PARTIAL)" : "")}));
      out.push(t);
      for (const line of d.notes) out.push(el("div", {class: /PARTIAL|failed|lost/.test(line) ? "note bad" : "note", text: line}));
    }
  }
  const profiles = model.reports.flatMap((r) => (r.sections ? r.sections.profiles : []).map((p) => [r, p]));
  if (profiles.length) {
    out.push(el("h2", {text: "Flamegraphs"}));
    const items = profiles.map(([report, p]) => {
      const what = named(report, p.label + " " + p.side + ": ");
      return el("li", {}, [document.createTextNode(what),
                           p.href === null ? el("span", {text: p.svg}) : el("a", {href: p.href, "data-profile": p.side, text: p.svg})]);
    });
    out.push(el("ul", {class: "profiles"}, items));
    out.push(el("div", {class: "note", text: "CPU flamegraphs of the measured window (perf, cpu-clock), next to the report"}));
  }
  return out;
}

function livePanel(live) {
  const rows = live.connectors.map((c) => el("tr", {"data-connector": c.label}, [
    el("td", {text: c.label}), el("td", {class: "state", "data-live": "phase", text: c.phase}),
    el("td", {"data-live": "elapsed", text: c.elapsed}), el("td", {"data-live": "tps", text: c.tps}),
    el("td", {"data-live": "p99", text: c.p99}), el("td", {"data-live": "committed", text: c.committed})]));
  const head = el("tr", {}, ["connector", "phase", "elapsed", "TPS (last s)", "p99 (last s)", "committed"]
    .map((h) => el("th", {text: h})));
  return el("div", {class: "live", id: "live"}, [
    el("div", {class: "state", "data-live": "status", text: live.status}),
    el("table", {class: "summary"}, [el("thead", {}, [head]), el("tbody", {}, rows)]),
    el("div", {class: "note", "data-live": "updated", text: "updated " + live.updated}),
  ]);
}

let drawn = {};

function draw(model) {
  const page = document.getElementById("page");
  const title = model.live ? "loadbench: live" : "loadbench report";
  if (!page.dataset.ready) {
    page.appendChild(el("h1", {text: title}));
    page.appendChild(el("div", {id: "live-slot"}));
    page.appendChild(el("h2", {text: "Run context"}));
    page.appendChild(el("div", {class: "contexts", id: "contexts"}));
    page.appendChild(el("h2", {text: "Summary"}));
    page.appendChild(el("div", {id: "summaries"}));
    page.appendChild(el("div", {class: "note", text: "latency: from just before the first attempt to just after the last " +
      "(committed and rejected operations); percentiles by nearest rank over every counted operation"}));
    page.appendChild(el("div", {id: "sections"}));
    page.appendChild(el("h2", {text: "Charts"}));
    page.appendChild(el("div", {class: "charts", id: "charts"}));
    page.dataset.ready = "1";
  }
  const slot = document.getElementById("live-slot");
  slot.replaceChildren(...(model.live ? [livePanel(model.live)] : []));
  document.getElementById("contexts").replaceChildren(...model.reports.map(contextCard));
  document.getElementById("summaries").replaceChildren(...model.reports.map(summaryTable));
  document.getElementById("sections").replaceChildren(...sections(model));
  const holder = document.getElementById("charts");
  const all = charts(model);
  // Every chart's box first, then the drawing: a chart drawn while alone in the grid would keep
  // the full width it had then.
  for (const [name] of all) {
    if (!drawn[name]) {
      drawn[name] = el("div", {class: "chart", "data-chart": name});
      holder.appendChild(drawn[name]);
    }
  }
  for (const [name, traces, lay] of all) Plotly.react(drawn[name], traces, lay, CONFIG);
}

draw(LOADBENCH_MODEL);

if (LOADBENCH_EVENTS) {
  const source = new EventSource(LOADBENCH_EVENTS);
  source.onmessage = (event) => draw(JSON.parse(event.data));
  // The run ended: the server says so and closes; no reconnection attempts after that.
  source.addEventListener("end", (event) => { draw(JSON.parse(event.data)); source.close(); });
}

// The live page: polls the read-only JSON API every second and draws it. Plain JS, no build
// step; every text from the pipeline is set with textContent (raw rejected lines included).
"use strict";

const REFRESH_MS = 1000;
const KEYS_EVERY = 5; // refresh the picker's keys every 5th tick
const chosen = new Set(new URLSearchParams(location.hash.slice(1)).getAll("key"));
let plot = null;
let plotKeys = "";
let ticks = 0;
let allKeys = [];

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells, cls) {
  const tr = el("tr");
  cells.forEach(([text, c]) => tr.appendChild(el("td", text, c)));
  if (cls) tr.className = cls;
  return tr;
}

function num(x, digits) {
  return x === null || x === undefined ? "–" : Number(x).toFixed(digits);
}

function seconds(x) {
  if (x === null || x === undefined) return "–";
  if (x < 1) return (x * 1000).toFixed(1) + " ms";
  if (x < 120) return x.toFixed(2) + " s";
  if (x < 7200) return (x / 60).toFixed(1) + " min";
  if (x < 172800) return (x / 3600).toFixed(1) + " h";
  return (x / 86400).toFixed(1) + " days";
}

async function getJson(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

function renderPipeline(p) {
  $("pipeline").textContent = p.pipeline;
  const ready = $("ready");
  ready.dataset.ready = String(p.ready);
  ready.textContent = p.ready ? "ready" : "not ready: " + p.not_ready_reason;
  const t = p.totals;
  $("totals").textContent =
    `${t.records_in} records · ${t.windows_out} windows out · ${t.rejects} rejects (${t.late} late)` +
    ` · watermark ${p.watermark || "–"}`;
  const sources = $("sources").tBodies[0];
  sources.replaceChildren(...p.sources.map((s) => {
    const tr = row([
      [s.source], [s.partition], [s.watermark || "–", "watermark"],
      [seconds(s.watermark_lag_seconds)], [num(s.records_per_second, 0)],
      [s.records_in], [s.consumer_lag === null ? "–" : s.consumer_lag],
    ]);
    tr.dataset.watermarkMs = s.watermark_ms;
    return tr;
  }));
  const sinks = $("sinks").tBodies[0];
  sinks.replaceChildren(...p.sinks.map((s) => {
    const c = s.commit;
    return row(c ? [
      [s.sink], [c.committed_below || "–", "committed"], [c.commits],
      [seconds(c.last_commit_seconds)], [seconds(c.mean_commit_seconds)],
    ] : [[s.sink], ["(keeps no progress)"], ["–"], ["–"], ["–"]]);
  }));
}

function renderRejects(r) {
  const box = $("rejects");
  box.replaceChildren(...r.reasons.map((reason) => {
    const div = el("div", null, "reason");
    div.dataset.reason = reason.reason;
    div.dataset.count = reason.count;
    const details = el("details");
    details.appendChild(el("summary", `${reason.reason}: ${reason.count}`));
    if (reason.latest.length === 0) details.appendChild(el("div", "no lines kept", "none"));
    for (const line of reason.latest.slice().reverse()) {
      details.appendChild(el("div",
        `${line.source} partition ${line.partition} line ${line.line} (offset ${line.offset}), ` +
        `${line.received_at}: ${line.detail}`));
      details.appendChild(el("pre", line.raw));
    }
    if (reason.count > 0) details.open = remembered(reason.reason);
    details.addEventListener("toggle", () => openReasons[reason.reason] = details.open);
    div.appendChild(details);
    return div;
  }));
}

const openReasons = {};
function remembered(reason) { return openReasons[reason] ?? true; }

function renderKeys(k) {
  const keys = k.symbols.map((s) => "symbol:" + s).concat(k.categories.map((c) => "category:" + c));
  // Rebuilt only when the keys change, so a selection in progress is not disturbed.
  if (keys.join("\n") === allKeys.join("\n")) return;
  allKeys = keys;
  if (chosen.size === 0) {
    // A first look: a few symbols and a category, until the user picks.
    allKeys.filter((x) => x.startsWith("symbol:")).slice(0, 3).forEach((x) => chosen.add(x));
    allKeys.filter((x) => x.startsWith("category:")).slice(0, 1).forEach((x) => chosen.add(x));
  }
  fillPicker();
}

function fillPicker() {
  const filter = $("filter").value.trim().toLowerCase();
  const select = $("keys");
  const shown = allKeys.filter((k) => !filter || k.toLowerCase().includes(filter) || chosen.has(k));
  select.replaceChildren(...shown.map((k) => {
    const o = el("option", k.replace(":", " "));
    o.value = k;
    o.selected = chosen.has(k);
    return o;
  }));
}

function onPick() {
  const select = $("keys");
  for (const o of select.options) {
    if (o.selected) chosen.add(o.value); else chosen.delete(o.value);
  }
  const params = new URLSearchParams();
  chosen.forEach((k) => params.append("key", k));
  history.replaceState(null, "", "#" + params.toString());
  refreshChart();
}

// uPlot wants one x array shared by every series: the union of window ends, null gaps.
function align(series) {
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = series.map((s) => {
    const y = new Array(xs.length).fill(null);
    s.points.forEach(([x, v]) => { y[index.get(x)] = v; });
    return y;
  });
  return [xs.map((x) => x / 1000), ...ys];
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
  "#17becf", "#bcbd22", "#7f7f7f"];

async function refreshChart() {
  const keys = [...chosen];
  const query = keys.map((k) => "key=" + encodeURIComponent(k)).join("&");
  const body = keys.length ? await getJson("/api/series?" + query) : { series: [] };
  const data = align(body.series);
  const box = $("chart");
  const points = body.series.reduce((n, s) => n + s.points.length, 0);
  box.dataset.points = points;
  box.dataset.series = body.series.length;
  box.dataset.keys = keys.join(" ");
  const signature = keys.join("\n");
  if (!plot || plotKeys !== signature) {
    if (plot) plot.destroy();
    plotKeys = signature;
    const width = Math.max(320, box.clientWidth || 800);
    plot = new uPlot({
      width, height: 320,
      scales: { x: { time: true }, y: { auto: true } },
      series: [{}].concat(body.series.map((s, i) => ({
        label: s.key, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
        value: (u, v) => v === null ? "–" : v.toFixed(4),
      }))),
      axes: [{}, { size: 70 }],
    }, data, box);
  } else {
    plot.setData(data);
  }
}

async function tick() {
  try {
    const jobs = [getJson("/api/pipeline").then(renderPipeline), getJson("/api/rejects").then(renderRejects)];
    if (ticks % KEYS_EVERY === 0 || allKeys.length === 0) jobs.push(getJson("/api/keys").then(renderKeys));
    await Promise.all(jobs);
    await refreshChart();
    document.body.dataset.updated = String(++ticks);
  } catch (e) {
    const ready = $("ready");
    ready.dataset.ready = "false";
    ready.textContent = "no answer from tickflow (" + e.message + ")";
  }
  setTimeout(tick, REFRESH_MS);
}

$("keys").addEventListener("change", onPick);
$("filter").addEventListener("input", fillPicker);
window.addEventListener("resize", () => {
  if (plot) plot.setSize({ width: Math.max(320, $("chart").clientWidth), height: 320 });
});
tick();

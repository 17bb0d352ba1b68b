// Weir dashboard: one page on the admin listener, no dependencies, no network beyond the admin
// API it is served from. Everything the router sends is shown as text (never parsed as HTML).
// The admin token lives in this page's memory only: typed once, sent in the Authorization
// header, never stored in a cookie or in the browser's storage.
"use strict";

const WINDOW_SECONDS = 900;
const POLL_MS = 1000;
let token = null;
let view = null; // the page being shown: { kind: "router" } or { kind: "route", name, ... }
let timer = null;
let generation = 0; // bumped by every navigation: an older refresh loop stops

// ---------------------------------------------------------------- small helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

// Names come from the config (versions, metadata keys): read only an object's own fields, so a
// name like `__proto__` or `toString` is data, not a way into JavaScript's prototypes.
function own(object, key) {
  return object && Object.hasOwn(object, key) ? object[key] : undefined;
}

function percent(value) {
  if (value === null || value === undefined) return "–";
  return (Math.round(value * 100) / 100).toString() + "%";
}

function clock(unixSeconds) {
  return new Date(unixSeconds * 1000).toISOString().slice(11, 19);
}

function routeURL(name, rest) {
  return "/v1/routes/" + encodeURIComponent(name) + (rest || "");
}

// ---------------------------------------------------------------- talking to the router

class Refused extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function call(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit", cache: "no-store", redirect: "error",
  });
  let answer = null;
  try { answer = await response.json(); } catch (_) { answer = null; }
  if (!response.ok) {
    const code = (answer && answer.error) || "http_" + response.status;
    const message = (answer && answer.message) || response.statusText;
    throw new Refused(response.status, code, message);
  }
  return answer;
}

function showBanner(text) {
  const banner = document.getElementById("banner");
  banner.textContent = text;
  banner.hidden = !text;
}

function explain(error) {
  if (error instanceof Refused) {
    const hint = error.status === 401 ? " Enter the admin token at the top of the page." : "";
    return "refused (" + error.status + " " + error.code + "): " + error.message + hint;
  }
  return "could not reach the router or show its answer: " + error.message;
}

// ---------------------------------------------------------------- pieces of a route

function badge(state) {
  return el("span", { class: "badge " + state, "data-state": state, text: state.replaceAll("_", " ") });
}

function ladder(route) {
  if (!route.canary && route.state === "idle") return el("span", { class: "muted", text: "no canary" });
  const steps = route.step_weights || [];
  const list = el("ol", { class: "ladder", "aria-label": "canary weight per step" });
  // A rolled-back canary's step is marked ✕: it is where the canary stopped, not where it is.
  const stopped = route.state === "rolled_back";
  steps.forEach((weight, index) => {
    const done = route.state === "promoted" || index < route.step;
    const here = route.state !== "promoted" && route.state !== "idle" && index === route.step;
    list.append(el("li", {
      class: here ? (stopped ? "stopped" : "current") : done ? "done" : "",
      "aria-current": here && !stopped ? "step" : null,
      title: "step " + index + (here && stopped ? ": rolled back here" : ""),
      // Only a shadow step has no weight: the canary answers nobody there, it gets copies.
      text: weight === 0 ? "shadow" : weight + "%",
    }));
  });
  list.append(el("li", { class: route.state === "promoted" ? "current" : "", text: "100%" }));
  return list;
}

function weightsText(route) {
  const names = [route.stable].concat(route.canary ? [route.canary] : []);
  const others = Object.keys(route.weights).filter((name) => !names.includes(name)).sort();
  return names.concat(others)
    .map((name) => name + (name === route.stable ? " (stable)" : name === route.canary ? " (canary)" : "")
      + " " + percent(own(route.weights, name) ?? 0))
    .join(" · ");
}

// ---------------------------------------------------------------- the router page

async function showRouter() {
  const list = await call("GET", "/v1/routes");
  if (view.kind !== "router") return; // navigated away meanwhile
  const crumbs = document.getElementById("crumbs");
  crumbs.textContent = "routes";
  const rows = list.routes.map((route) => el("tr", { "data-route": route.name },
    el("td", {}, el("a", { href: "#/routes/" + encodeURIComponent(route.name), class: "route-link", text: route.name })),
    el("td", {}, badge(route.state)),
    el("td", {}, ladder(route)),
    el("td", { class: "weights", text: weightsText(route) }),
    el("td", { class: "reason", text: route.last_event ? route.last_event.reason : "" }),
  ));
  const main = el("main", { id: "main" },
    el("h1", { text: "Routes" }),
    el("table", { id: "routes" },
      el("thead", {}, el("tr", {}, ["route", "state", "steps", "weights", "last decision"].map((h) => el("th", { text: h })))),
      el("tbody", {}, rows)),
    storePanel(list.store), instancesPanel(list.instances));
  document.getElementById("main").replaceWith(main);
}

function storePanel(store) {
  if (!store) return null;
  const text = store.up
    ? "store up" + (store.pending_events ? ", " + store.pending_events + " events waiting to be written" : "")
    : "STORE DOWN since " + (store.down_since || "?") + ": " + (store.error || "") + " — rollbacks and pauses still work";
  return el("p", { class: store.up ? "muted" : "reason", id: "store", text });
}

function instancesPanel(instances) {
  if (!instances || !instances.length) return null;
  return el("section", {},
    el("h2", { text: "Fleet instances" }),
    el("table", { id: "instances" },
      el("thead", {}, el("tr", {}, ["instance", "admin", "last seen", "role", "alive"].map((h) => el("th", { text: h })))),
      el("tbody", {}, instances.map((i) => el("tr", {},
        el("td", { text: i.id + (i.this ? " (this one)" : "") }), el("td", { text: i.address }),
        el("td", { text: i.last_seen }), el("td", { text: i.judge ? "judge" : "follower" }),
        el("td", { text: i.alive ? "yes" : "NO" }))))));
}

// ---------------------------------------------------------------- charts (SVG, no library)

const CHART = { width: 600, height: 190, left: 52, right: 14, top: 18, bottom: 24 };
// Each version's line has a pattern of its own as well as a colour.
const PATTERNS = { stable: null, canary: "7 4", other: "2 3" };

function niceStep(span, ticks) {
  const raw = span / ticks;
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const scaled = raw / power;
  return (scaled <= 1 ? 1 : scaled <= 2 ? 2 : scaled <= 5 ? 5 : 10) * power;
}

function formatNumber(value) {
  if (value === 0) return "0";
  const abs = Math.abs(value);
  if (abs >= 1e6) return (value / 1e6).toPrecision(3) + "M";
  if (abs >= 1e3) return (value / 1e3).toPrecision(3) + "k";
  if (abs >= 1) return String(Math.round(value * 100) / 100);
  return value.toPrecision(2);
}

/// lines: [{ label, role: stable|canary|other, width?, dash?, points: [[t, v|null]] }]
/// markers: [{ t, label, kind, reason }]; options: { from, to, log, threshold, unit, max }
function chart(title, lines, markers, options) {
  const { width, height, left, right, top, bottom } = CHART;
  const plotW = width - left - right, plotH = height - top - bottom;
  const from = options.from, to = options.to;
  const x = (t) => left + ((t - from) / Math.max(1, to - from)) * plotW;
  const values = lines.flatMap((line) => line.points.map((p) => p[1]).filter((v) => v !== null && isFinite(v)));
  if (options.threshold) values.push(options.threshold);
  let lo, hi, y, ticks = [];
  if (options.log) {
    lo = Math.min(0.01, ...values.filter((v) => v > 0));
    hi = Math.max(10, ...values);
    const l0 = Math.floor(Math.log10(lo)), l1 = Math.ceil(Math.log10(hi));
    y = (v) => top + plotH - ((Math.log10(Math.max(v, Math.pow(10, l0))) - l0) / (l1 - l0)) * plotH;
    for (let p = l0; p <= l1; p++) ticks.push(Math.pow(10, p));
  } else {
    lo = 0;
    hi = Math.max(options.max || 0, ...values, 1);
    const step = niceStep(hi, 4);
    hi = Math.ceil(hi / step) * step;
    y = (v) => top + plotH - (v / hi) * plotH;
    for (let v = 0; v <= hi + step / 2; v += step) ticks.push(v);
  }
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  for (const v of ticks) {
    root.append(svg("line", { class: "grid", x1: left, x2: width - right, y1: y(v), y2: y(v) }));
    root.append(svg("text", { class: "tick", x: left - 4, y: y(v) + 4, "text-anchor": "end", text: formatNumber(v) + (options.unit || "") }));
  }
  const tickSeconds = to - from > 600 ? 180 : to - from > 240 ? 60 : to - from > 90 ? 30 : 10;
  for (let t = Math.ceil(from / tickSeconds) * tickSeconds; t <= to; t += tickSeconds) {
    root.append(svg("text", { class: "tick", x: x(t), y: height - 6, "text-anchor": "middle", text: clock(t) }));
  }
  root.append(svg("line", { class: "axis", x1: left, x2: left, y1: top, y2: top + plotH }));
  root.append(svg("line", { class: "axis", x1: left, x2: width - right, y1: top + plotH, y2: top + plotH }));
  if (options.threshold) {
    root.append(svg("line", { class: "threshold", x1: left, x2: width - right, y1: y(options.threshold), y2: y(options.threshold) }));
    root.append(svg("text", { class: "threshold-label", x: left + 4, y: y(options.threshold) - 3,
      text: "1/α = " + formatNumber(options.threshold) + ": rollback line" }));
  }
  for (const line of lines) {
    let d = "", pen = false;
    for (const [t, v] of line.points) {
      if (v === null || !isFinite(v) || t < from) { pen = false; continue; }
      d += (pen ? "L" : "M") + x(t).toFixed(1) + " " + y(v).toFixed(1);
      pen = true;
    }
    root.append(svg("path", {
      class: "series " + line.role, d, "stroke-dasharray": line.dash ?? PATTERNS[line.role],
      "stroke-width": line.width, "data-label": line.label,
    }, svg("title", { text: line.label })));
  }
  // Labels of markers close together go on the next row; near the right edge, to the line's left.
  let lastX = -Infinity, row = 0;
  for (const marker of markers.slice().sort((a, b) => a.t - b.t)) {
    if (marker.t < from || marker.t > to) continue;
    const mx = x(marker.t);
    row = mx - lastX < 90 ? (row + 1) % 3 : 0;
    lastX = mx;
    const leftward = mx > width - right - 90;
    root.append(svg("g", { class: "marker " + marker.kind, "data-to": marker.kind },
      svg("title", { text: marker.label + ": " + marker.reason }),
      svg("line", { x1: mx, x2: mx, y1: top - 4, y2: top + plotH }),
      svg("text", { x: leftward ? mx - 3 : mx + 3, y: top + 6 + 12 * row, "text-anchor": leftward ? "end" : "start",
        text: marker.label })));
  }
  const legend = el("div", { class: "legend" }, lines.map((line) => el("span", {},
    svg("svg", { viewBox: "0 0 34 10" }, svg("line", {
      class: "series " + line.role, x1: 0, x2: 34, y1: 5, y2: 5, "stroke-dasharray": line.dash ?? PATTERNS[line.role],
      "stroke-width": line.width,
    })), " " + line.label)));
  return el("div", { class: "chart", "data-chart": options.id }, el("h3", { text: title }), root, legend,
    options.note ? el("p", { class: "note", text: options.note }) : null);
}

// ---------------------------------------------------------------- the route page

function roleOf(route, version) {
  return version === route.stable ? "stable" : version === route.canary ? "canary" : "other";
}

function markerOf(event) {
  const t = Date.parse(event.at) / 1000;
  let label;
  if (event.from === "idle" && event.to === "progressing") label = "canary started";
  else if (event.from !== event.to) label = event.to.replaceAll("_", " ");
  else if (event.from_step !== event.to_step) label = "step " + event.from_step + "→" + event.to_step;
  else label = (event.kind || event.to).replaceAll("_", " ");
  const kind = event.from !== event.to ? event.to : "step";
  return { t, label, kind, reason: event.actor + ": " + event.reason };
}

function routeCharts(state) {
  const route = state.route;
  const points = state.points;
  // The axis spans what there is (at least a minute, at most fifteen), newest at the right.
  const last = points.length ? points[points.length - 1].second : Math.floor(Date.now() / 1000);
  const to = last + 1;
  const from = Math.min(to - 60, Math.max(points.length ? points[0].second : to, to - WINDOW_SECONDS));
  const versions = Object.keys(route.versions).sort((a, b) =>
    ["stable", "canary", "other"].indexOf(roleOf(route, a)) - ["stable", "canary", "other"].indexOf(roleOf(route, b)));
  const markers = state.events.map(markerOf);
  const perVersion = (label, value, extra) => versions.map((v) => Object.assign({
    label: v + " (" + roleOf(route, v) + ")" + label, role: roleOf(route, v),
    points: points.map((p) => [p.second, own(p.versions, v) ? value(own(p.versions, v)) : null]),
  }, extra || {}));
  const options = (id, extra) => Object.assign({ id, from, to }, extra || {});
  const rps = perVersion("", (s) => s.requests);
  const errors = perVersion("", (s) => (s.requests ? (100 * s.errors) / s.requests : null));
  const latency = perVersion(" p50", (s) => s.p50_ms).concat(perVersion(" p99", (s) => s.p99_ms, { width: 3.2 }));
  const weights = perVersion("", (s) => s.weight);
  const charts = [
    chart("Requests per second", rps, markers, options("rps")),
    chart("Error rate (errors the policy counts)", errors, markers, options("errors", { unit: "%" })),
    chart("Latency p50 (thin) and p99 (thick), ms", latency, markers, options("latency", { unit: "ms" })),
    chart("Traffic weight", weights, markers, options("weight", { unit: "%", max: 100 })),
  ];
  if (state.threshold) {
    const evalues = [{ label: "e-value (evidence against the canary)", role: "canary", dash: "none",
      points: points.map((p) => [p.second, p.e_value ?? null]) }];
    charts.push(chart("Sequential judge", evalues, markers, options("evalue", { log: true, threshold: state.threshold,
      note: "The canary is rolled back when its e-value reaches 1/α; log scale." })));
  }
  return el("section", { class: "charts", id: "charts" }, charts);
}

function versionsTable(route) {
  const keys = [...new Set(Object.values(route.versions).flatMap((v) => Object.keys(v.metadata || {})))].sort();
  const names = Object.keys(route.versions).sort();
  return el("table", { id: "versions" },
    el("thead", {}, el("tr", {}, ["version", "role", "weight", "requests", "errors", "error rate", "p50 ms", "p99 ms"]
      .concat(keys).map((h) => el("th", { text: h })))),
    el("tbody", {}, names.map((name) => {
      const v = own(route.versions, name);
      return el("tr", { "data-version": name },
        el("td", { text: name }), el("td", { text: roleOf(route, name) }),
        el("td", { class: "num weight", text: percent(own(route.weights, name) ?? 0) }),
        el("td", { class: "num", text: v.requests }), el("td", { class: "num", text: v.errors }),
        el("td", { class: "num", text: percent(100 * v.error_rate) }),
        el("td", { class: "num", text: v.latency_ms.p50 ?? "–" }), el("td", { class: "num", text: v.latency_ms.p99 ?? "–" }),
        keys.map((k) => el("td", { text: own(v.metadata, k) ?? "" })));
    })));
}

// LLM answers per version (CONTRACT §10), when any version served them in the window.
function llmTable(route) {
  const names = Object.keys(route.versions).sort().filter((name) => own(route.versions, name).llm);
  if (names.length === 0) return null;
  const ms = (value) => (value == null ? "–" : String(value));
  return el("table", { id: "llm" },
    el("thead", {}, el("tr", {}, ["version", "answers", "TTFT p50 ms", "TTFT p95 ms", "TPOT p50 ms", "tokens/s",
      "tokens/answer", "stream errors", "finish reasons"].map((h) => el("th", { text: h })))),
    el("tbody", {}, names.map((name) => {
      const llm = own(route.versions, name).llm;
      const finishes = Object.keys(llm.finish_reasons || {}).sort()
        .map((reason) => reason + " " + own(llm.finish_reasons, reason)).join(", ");
      return el("tr", { "data-version": name },
        el("td", { text: name }), el("td", { class: "num", text: llm.responses }),
        el("td", { class: "num", text: ms(llm.ttft_ms.p50) }), el("td", { class: "num", text: ms(llm.ttft_ms.p95) }),
        el("td", { class: "num", text: ms(llm.tpot_ms.p50) }),
        el("td", { class: "num", text: ms(llm.tokens_per_second) }),
        el("td", { class: "num", text: ms(llm.output_tokens_mean) }),
        el("td", { class: "num", text: llm.stream_errors }), el("td", { text: finishes }));
    })));
}

// The shadow's comparisons (CONTRACT §11): agreement against the stable's own, and the tests.
function shadowPanel(route) {
  const shadow = route.shadow;
  if (!shadow) return null;
  const share = (value) => (value == null ? "–" : percent(100 * value));
  const number = (value) => (value == null ? "–" : String(value));
  const rows = [
    ["version", shadow.version], ["compared", String(shadow.comparisons)], ["agreement", share(shadow.agreement)],
    ["noise floor (stable vs stable)", share(shadow.noise_agreement)], ["excess disagreement", share(shadow.excess)],
    ["Cohen's κ", number(shadow.kappa)], ["KS", number(shadow.ks)], ["PSI", number(shadow.psi)],
    ["errors · shed", shadow.errors + " · " + shadow.shed],
    ["tests (e-values)", "differs " + formatNumber(shadow.excess_e_value) + ", agrees " + formatNumber(shadow.agreement_e_value)],
    ["top flips", (shadow.flips || []).slice(0, 5).map((f) => f.stable + " → " + f.shadow + " " + f.count).join(", ") || "none"],
  ];
  return el("dl", { class: "summary", id: "shadow" },
    rows.map(([term, value]) => el("div", {}, el("dt", { text: term }), el("dd", { text: value }))));
}

function auditLog(events) {
  return el("table", { id: "audit" },
    el("thead", {}, el("tr", {}, ["time (UTC)", "change", "weights", "actor", "reason"].map((h) => el("th", { text: h })))),
    el("tbody", {}, events.map((e) => el("tr", { "data-to": e.to },
      el("td", { text: e.at.replace("T", " ").replace("Z", "") }),
      el("td", { text: e.from + " " + e.from_step + " → " + e.to + " " + e.to_step }),
      el("td", { text: Object.keys(e.weights).sort().map((k) => k + " " + percent(own(e.weights, k))).join(", ") }),
      el("td", { text: e.actor }), el("td", { class: "reason", text: e.reason })))));
}

const ACTIONS = [
  { verb: "promote", label: "Promote", body: () => ({ full: false }), says: (r) => "advance " + r.name + " one step" },
  { verb: "pause", label: "Pause", body: () => ({}), says: (r) => "pause " + r.name + " where it is" },
  { verb: "resume", label: "Resume", body: () => ({}), says: (r) => "let the policy move " + r.name + " again" },
  { verb: "rollback", label: "Roll back", danger: true,
    body: () => ({ reason: document.getElementById("rollback-reason").value || undefined }),
    says: (r) => "send 100% of " + r.name + " to " + r.stable + " at once" },
  { verb: "undo", label: "Undo promotion", danger: true, body: () => ({}), says: (r) => "send " + r.name + " back to its previous stable at once" },
  { verb: "retry", label: "Retry", body: () => ({}), says: (r) => "start " + r.name + "'s rolled-back canary again" },
  { verb: "weight", label: "Set weight", body: () => ({ canary: Number(document.getElementById("weight-value").value) }),
    problem: () => {
      const text = document.getElementById("weight-value").value.trim();
      const value = Number(text);
      return text === "" || !Number.isFinite(value) || value < 0 || value > 100
        ? "enter the canary's weight as a number from 0 to 100 first" : null;
    },
    says: (r) => "pin " + r.name + "'s canary at " + document.getElementById("weight-value").value + "% (pauses the policy)" },
];

function actionsPanel(route) {
  const button = (action) => el("button", {
    type: "button", id: "action-" + action.verb, class: action.danger ? "danger" : null,
    onclick: () => confirmAndSend(action),
  }, action.label);
  return el("section", {},
    el("h2", { text: "Actions" }),
    el("div", { class: "actions" },
      ACTIONS.filter((a) => a.verb !== "rollback" && a.verb !== "weight").map(button),
      el("label", { for: "rollback-reason", text: "reason" }),
      el("input", { type: "text", id: "rollback-reason", maxlength: 500, placeholder: "why (goes to the audit log)" }),
      button(ACTIONS.find((a) => a.verb === "rollback")),
      el("label", { for: "weight-value", text: "canary %" }),
      el("input", { type: "number", id: "weight-value", min: 0, max: 100, step: "any", value: own(route.weights, route.canary) ?? 0 }),
      button(ACTIONS.find((a) => a.verb === "weight"))),
    el("div", { id: "answer", role: "status", "aria-live": "polite" }));
}

function confirmAndSend(action) {
  const route = view.route;
  const problem = action.problem && action.problem();
  if (problem) {
    const answer = document.getElementById("answer");
    answer.className = "refused";
    answer.textContent = "not sent: " + problem;
    return;
  }
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = action.label + " " + route.name + "?";
  document.getElementById("confirm-text").textContent =
    "This will " + action.says(route) + ". It is written to the audit log as done by an operator.";
  dialog.returnValue = "";
  dialog.onclose = async () => {
    if (dialog.returnValue !== "yes") return;
    const answer = document.getElementById("answer");
    answer.className = "";
    answer.textContent = "sending…";
    try {
      const result = await call("POST", routeURL(route.name, "/" + action.verb), action.body());
      answer.className = "ok";
      answer.textContent = "done: " + result.route.state + ", " + weightsText(result.route) + " — " + result.event.reason;
      await refresh();
    } catch (error) {
      answer.className = "refused";
      answer.textContent = explain(error);
    }
  };
  dialog.showModal();
}

async function loadRoute(name) {
  const previous = view && view.kind === "route" && view.name === name && view.points ? view : null;
  const since = previous && previous.through !== null && previous.through !== undefined ? "?since=" + previous.through : "";
  const [route, series] = await Promise.all([
    call("GET", routeURL(name)),
    call("GET", routeURL(name, "/series" + since)),
  ]);
  // The audit log is read from the store again only when the route's last event changed.
  const lastEventAt = route.last_event ? route.last_event.at : null;
  const events = previous && previous.lastEventAt === lastEventAt
    ? { events: previous.events }
    : await call("GET", routeURL(name, "/events?limit=200"));
  const all = (previous ? previous.points : []).concat(series.points);
  const newest = all.length ? all[all.length - 1].second : 0;
  const points = all.filter((p) => p.second > newest - WINDOW_SECONDS);
  return { kind: "route", name, route, points, through: series.through, threshold: series.e_value_threshold,
    events: events.events, lastEventAt };
}

async function showRoute(name) {
  const state = await loadRoute(name);
  if (!(view && view.kind === "route" && view.name === name)) return; // navigated away meanwhile
  const keep = document.getElementById("actions-slot");
  view = state;
  const route = state.route;
  document.getElementById("crumbs").replaceChildren(el("a", { href: "#/", text: "routes" }), " / " + route.name);
  const header = el("section", { id: "route-header" },
    el("h1", {}, route.name + " ", badge(route.state)),
    el("dl", { class: "summary" },
      el("div", {}, el("dt", { text: "steps (canary %)" }), el("dd", {}, ladder(route))),
      el("div", {}, el("dt", { text: "weights" }), el("dd", { class: "weights", id: "weights", text: weightsText(route) })),
      el("div", {}, el("dt", { text: "last verdict" }), el("dd", { class: "verdict", id: "verdict",
        text: route.last_verdict ? route.last_verdict.result + ": " + route.last_verdict.reason : "none yet" })),
      el("div", {}, el("dt", { text: "last decision" }), el("dd", { class: "reason", id: "last-decision",
        text: route.last_event ? route.last_event.at + " " + route.last_event.from + " → " + route.last_event.to
          + " (" + route.last_event.actor + "): " + route.last_event.reason : "none yet" })),
      route.disagreement ? el("div", {}, el("dt", { text: "fleet" }), el("dd", { class: "reason", text: route.disagreement })) : null));
  // The actions panel is built once per visit, so typing in it survives the refreshes.
  const actions = keep || el("div", { id: "actions-slot" }, actionsPanel(route));
  const main = el("main", { id: "main" }, header, routeCharts(state), actions,
    el("h2", { text: "Versions (current window)" }), versionsTable(route),
    llmTable(route) ? el("h2", { text: "LLM answers (current window)" }) : null, llmTable(route),
    route.shadow ? el("h2", { text: "Shadow (copies compared, answers never sent)" }) : null, shadowPanel(route),
    el("h2", { text: "Audit log" }), auditLog(state.events));
  document.getElementById("main").replaceWith(main);
}

// ---------------------------------------------------------------- navigation and refresh

async function refresh() {
  try {
    if (view.kind === "router") await showRouter();
    else await showRoute(view.name);
    showBanner("");
  } catch (error) {
    showBanner(error instanceof Refused && error.status === 401
      ? "This router needs a token to show its routes: enter the read or admin token at the top of the page."
      : explain(error));
  }
}

function navigate() {
  const match = location.hash.match(/^#\/routes\/(.+)$/);
  let name = null;
  try {
    name = match ? decodeURIComponent(match[1]) : null;
  } catch (_) {
    name = null; // a malformed link: the route list
  }
  view = name !== null ? { kind: "route", name } : { kind: "router" };
  document.getElementById("main").replaceWith(el("main", { id: "main" }, el("p", { text: "Loading…" })));
  restart();
}

function restart() {
  clearTimeout(timer);
  generation += 1;
  loop(generation);
}

async function loop(mine) {
  await refresh();
  if (mine === generation) timer = setTimeout(() => loop(mine), POLL_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("token");
    token = input.value.trim() || null;
    input.value = "";
    document.getElementById("token-state").textContent = token ? "token set (this page only)" : "no token";
    restart();
  });
  window.addEventListener("hashchange", navigate);
  navigate();
});

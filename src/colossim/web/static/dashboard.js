// colossim dashboard: a thin page over the HTTP API (no build step, no framework).
// Panels come from GET api/capabilities: each capability gets a card that shows the
// `section` of its response (headline numbers, Plotly figures, tables, notes), so a
// capability added to the server appears here without changes to this file.
"use strict";

const state = { caps: [], presets: {}, base: {}, tab: "form", jobs: {} };
const QUICK_SKIP = new Set(["estimate"]);
// errors about the scenario itself (shown next to its field); anything else belongs to a card
const SCENARIO_FIELD = /^(scenario|name|description|model|cluster|training|parallel|network|power|cost|reliability|search)(\.|\[|$)/;
const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, props = {}, ...kids) => {
  const node = Object.assign(document.createElement(tag), props);
  for (const k of kids) node.append(k);
  return node;
};

async function api(path, body, method) {
  const opts = { method: method || (body === undefined ? "GET" : "POST"), headers: {} };
  if (body !== undefined) { opts.headers["content-type"] = "application/json"; opts.body = JSON.stringify(body); }
  const res = await fetch(path, opts);
  const type = res.headers.get("content-type") || "";
  const data = type.includes("json") ? await res.json() : await res.blob();
  if (!res.ok) throw Object.assign(new Error(data.error || res.statusText), { status: res.status, body: data });
  return data;
}

// ---- scenario: form <-> mapping ------------------------------------------------------

const FORM_FIELDS = [...document.querySelectorAll("#form-pane [data-field]")];

function setSelect(select, values, blank) {
  select.replaceChildren(...(blank ? [el("option", { value: "", textContent: blank })] : []),
    ...values.map(v => el("option", { value: v.value, textContent: v.label })));
}

function fieldValue(input) {
  if (input.type === "checkbox") return input.checked;
  const v = input.value.trim();
  if (v === "") return undefined;
  if (input.type === "number" || /zero_stage|total_tokens/.test(input.dataset.field)) {
    const n = Number(v);
    return Number.isFinite(n) ? n : v;  // the server names the field when it is not a number
  }
  return v;
}

function presetName(section) {
  if (typeof section === "string") return section;
  return section && typeof section === "object" ? section.preset || "" : "";
}

function scenarioToForm(sc) {
  state.base = JSON.parse(JSON.stringify(sc));
  for (const input of FORM_FIELDS) {
    const path = input.dataset.field.split(".");
    let v;
    if (path.length === 1) v = presetName(sc[path[0]]);
    else {
      const section = sc[path[0]];
      v = section && typeof section === "object" ? section[path[1]] : undefined;
    }
    if (input.type === "checkbox") input.checked = v === undefined ? true : Boolean(v);
    else input.value = v === undefined || v === null ? "" : String(v);
  }
}

function formToScenario() {
  const sc = JSON.parse(JSON.stringify(state.base || {}));
  const sections = { training: {}, parallel: {} };
  let cluster = {};
  if (typeof sc.cluster === "object" && sc.cluster) cluster = { ...sc.cluster };
  for (const input of FORM_FIELDS) {
    const [section, key] = input.dataset.field.split(".");
    const v = fieldValue(input);
    if (!key) {  // the model menu: a catalog name; "(custom)" keeps the scenario's own mapping
      if (section === "model" && v !== undefined && presetName(sc.model) !== v) sc.model = v;
      continue;
    }
    if (section === "cluster") { if (v === undefined) delete cluster[key]; else cluster[key] = v; }
    else if (v !== undefined) sections[section][key] = v;
  }
  const clusterPreset = $("#f-cluster").value;
  cluster.preset = clusterPreset;
  if (!cluster.preset) delete cluster.preset;
  sc.cluster = Object.keys(cluster).length === 1 && cluster.preset ? cluster.preset : cluster;
  for (const name of ["training", "parallel"]) {
    const kept = typeof sc[name] === "object" && sc[name] ? sc[name] : {};
    for (const input of FORM_FIELDS) {  // cleared fields drop out of the base too
      const [section, key] = input.dataset.field.split(".");
      if (section === name && fieldValue(input) === undefined) delete kept[key];
    }
    sc[name] = { ...kept, ...sections[name] };
  }
  return sc;
}

function scenarioBody() {
  return state.tab === "yaml" ? { yaml: $("#yaml").value } : { scenario: formToScenario() };
}

// ---- errors next to their field ------------------------------------------------------

function clearErrors(root = document) {
  root.querySelectorAll(".invalid").forEach(n => n.classList.remove("invalid"));
  root.querySelectorAll(".field-error.inline").forEach(n => n.remove());
  if (root === document) { $("#scenario-error").textContent = ""; $("#yaml-error").textContent = ""; }
}

function formInputFor(field) {
  const parts = field.replace(/\.preset$/, "").split(".");
  while (parts.length) {
    const input = $(`#form-pane [data-field="${parts.join(".")}"]`);
    if (input) return input;
    parts.pop();
  }
  return null;
}

function markInput(input, message) {
  input.classList.add("invalid");
  const note = el("div", { className: "field-error inline", textContent: message });
  (input.closest("label") || input).after(note);
}

// Show a failed request: an option's error in its card, a scenario's next to its field.
function showError(err, card) {
  const body = err.body || { error: String(err.message || err) };
  const field = body.field || "";
  const message = body.error || "request failed";
  if (field.startsWith("options.") && card) {
    const input = card.querySelector(`[data-option="${field.split(".")[1]}"]`);
    if (input) markInput(input, message);
  }
  if (card && !SCENARIO_FIELD.test(field)) {  // an option, the job limit, the request itself
    $(".card-error", card).textContent = message;
    return;
  }
  if (state.tab === "yaml") {
    $("#yaml").classList.add("invalid");
    $("#yaml-error").textContent = message;
  } else {
    const input = formInputFor(field);
    if (input) markInput(input, message);
    $("#scenario-error").textContent = message;
  }
  if (card) $(".card-error", card).textContent = "the scenario has a mistake: " + message;
}

// ---- cards: one per capability, filled from a response's `section` -------------------

// the unit an option's name states (…_mw, …_s, …_usd): shown beside its label
const UNITS = [[/_mw$/, "MW"], [/_mw_per_min$/, "MW/min"], [/_kw$/, "kW"], [/_w$/, "W"], [/_s$/, "s"], [/_h$/, "h"],
  [/_min$/, "min"], [/_days$/, "days"], [/_gbps$/, "Gb/s"], [/_tbps$/, "TB/s"], [/_usd$/, "USD"],
  [/_kb$/, "kB"], [/_gb$/, "GB"], [/_tb$/, "TB"]];

function unitOf(name) {
  if (/^usd_per_kwh$/.test(name)) return "USD/kWh";
  if (/^g_co2_per_kwh$/.test(name)) return "g CO2/kWh";
  for (const [re, unit] of UNITS) if (re.test(name)) return unit;
  return "";
}

function optionInput(name, schema) {
  let spec = schema;
  if (schema.anyOf) spec = schema.anyOf.find(s => s.type !== "null") || schema;
  let input;
  if (spec.enum) {
    input = el("select");
    setSelect(input, spec.enum.map(v => ({ value: v, label: v })), schema.default == null ? "(default)" : null);
    if (schema.default != null) input.value = schema.default;
  } else if (spec.type === "boolean") {
    input = el("input", { type: "checkbox", checked: Boolean(schema.default) });
  } else {
    input = el("input", { type: spec.type === "integer" || spec.type === "number" ? "number" : "text",
      placeholder: spec.type === "object" ? "key=value, key=value" : spec.type === "array" ? "1024, 4096" : "",
      value: schema.default != null && typeof schema.default !== "object" ? schema.default : "" });
    if (input.type === "number") input.step = "any";
  }
  input.dataset.option = name;
  input.dataset.kind = spec.type || "string";
  const hasDefault = schema.default !== undefined && schema.default !== null && typeof schema.default !== "object";
  if (input.tagName === "INPUT" && input.type !== "checkbox") {
    input.placeholder = hasDefault ? `default ${schema.default}` : (input.placeholder || "default");
  }
  const unit = unitOf(name);
  const head = el("span", { className: "opt-name" }, name.replaceAll("_", " "),
    ...(unit ? [el("span", { className: "unit", textContent: ` (${unit})` })] : []));
  const desc = schema.description || "";
  const fallback = hasDefault || /default/i.test(desc) ? "" : " (default: the scenario's section, else the model's)";
  const help = el("small", { className: "opt-help", textContent: desc + fallback });
  return el("label", { title: schema.description || "" }, head, input, help);
}

function readOptions(card) {
  const out = {};
  card.querySelectorAll("[data-option]").forEach(input => {
    const name = input.dataset.option, kind = input.dataset.kind;
    if (input.type === "checkbox") { if (input.checked) out[name] = true; return; }
    const v = input.value.trim();
    if (v === "") return;
    if (kind === "object") {
      out[name] = Object.fromEntries(v.split(",").map(p => p.split("=").map(s => s.trim()))
        .map(([k, x]) => [k, x !== undefined && x !== "" && !Number.isNaN(Number(x)) ? Number(x) : x]));
    } else if (kind === "array") out[name] = v.split(/[,\s]+/).filter(Boolean).map(Number);
    else if (kind === "integer" || kind === "number") out[name] = Number(v);
    else out[name] = v;
  });
  return out;
}

function makeCard(cap, onRun) {
  const run = el("button", { type: "button", textContent: cap.long ? "Start" : "Run" });
  const cancel = el("button", { type: "button", textContent: "Cancel", hidden: true });
  const card = el("section", { className: "card", id: `card-${cap.name}` },
    el("div", { className: "card-head" }, el("h2", { textContent: cap.title }),
      el("span", { className: "state" }), run, cancel));
  const props = (cap.options && cap.options.properties) || {};
  if (Object.keys(props).length) {
    const grid = el("div", { className: "grid" }, ...Object.entries(props).map(([k, s]) => optionInput(k, s)));
    card.append(el("details", { className: "options" }, el("summary", { textContent: "options" }), grid));
  }
  card.append(el("div", { className: "stale-note", role: "status", hidden: true,
    textContent: "stale: these results are from an older scenario; run again to update them" }));
  card.append(el("div", { className: "progress", hidden: true }, el("div")),
    el("div", { className: "error card-error", role: "alert" }), el("div", { className: "body" }));
  run.addEventListener("click", onRun || (() => runCapability(cap)));
  cancel.addEventListener("click", () => cancelJob(cap.name));
  return card;
}

function renderTable(t, kind, result) {
  const head = el("tr", {}, ...t.columns.map(c => el("th", { textContent: c })));
  const rows = t.rows.map((row, i) => {
    const tr = el("tr", {}, ...row.map(v => el("td", { textContent: v === null ? "-" : String(v) })));
    if (kind === "search" && t.title === "best plans" && result && result.plans[i]) {
      const use = el("button", { type: "button", textContent: "use" });
      use.addEventListener("click", () => usePlan(result.plans[i].plan));
      tr.append(el("td", {}, use));
    }
    return tr;
  });
  return el("div", { className: "table-wrap" }, el("h3", { textContent: t.title }),
    el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)));
}

// ---- stale results: a card that ran on another scenario than the one shown now ---------

function scenarioKey() {
  try { return JSON.stringify(scenarioBody()); } catch (err) { return ""; }
}

function markStale() {
  const now = scenarioKey();
  document.querySelectorAll(".card[data-scenario]").forEach(card => {
    const stale = card.dataset.scenario !== now;
    card.classList.toggle("stale", stale);
    $(".stale-note", card).hidden = !stale;
  });
}

function renderSection(card, section, result, key) {
  if (key === null) delete card.dataset.scenario;  // not about the scenario (validation)
  else card.dataset.scenario = key === undefined ? scenarioKey() : key;
  card.classList.remove("stale");
  $(".stale-note", card).hidden = true;
  const body = $(".body", card);
  body.replaceChildren();
  $("h2", card).textContent = section.title;
  if (section.kpis.length) {
    body.append(el("div", { className: "kpis" }, ...section.kpis.map(k =>
      el("div", { className: "kpi" }, el("span", { textContent: k.label }), el("b", { textContent: k.value })))));
  }
  if (section.figures.length) {
    // every container first, then the plots: each plot sizes itself to its final grid cell
    const divs = section.figures.map(fig => el("div", { className: "chart", id: `${card.id}-${fig.id}` }));
    body.append(el("div", { className: "charts" }, ...divs));
    section.figures.forEach((fig, i) => {
      if (window.Plotly) Plotly.newPlot(divs[i], fig.data, fig.layout, { displaylogo: false, responsive: true });
      else divs[i].textContent = "Plotly.js is not available on this server (pip install 'colossim[web]').";
    });
  }
  for (const t of section.tables) body.append(renderTable(t, section.kind, result));
  if (section.notes.length) body.append(el("ul", { className: "notes" }, ...section.notes.map(n => el("li", { textContent: n }))));
}

function setBusy(card, text) {
  $(".state", card).textContent = text;
}

async function runCapability(cap, extraOptions) {
  const card = $(`#card-${cap.name}`);
  clearErrors(card);
  $(".card-error", card).textContent = "";
  const body = { ...scenarioBody(), options: { ...readOptions(card), ...(extraOptions || {}) } };
  const key = scenarioKey();
  if (cap.long) return startJob(cap, card, body, key);
  setBusy(card, "running...");
  try {
    const out = await api(`api/${cap.name}`, body);
    renderSection(card, out.section, out.result, key);
    setBusy(card, "");
    return true;
  } catch (err) {
    setBusy(card, "failed");
    showError(err, card);
    return false;
  }
}

async function startJob(cap, card, body, key) {
  const bar = $(".progress", card);
  try {
    const job = await api(`api/jobs/${cap.name}`, body);
    state.jobs[cap.name] = job.id;
    bar.hidden = false;
    card.querySelector(".card-head button:last-child").hidden = false;
    pollJob(cap, card, job.id, key);
  } catch (err) {
    setBusy(card, "refused");
    showError(err, card);
  }
}

async function pollJob(cap, card, id, key) {
  const bar = $(".progress", card);
  let job;
  try { job = await api(`api/jobs/${id}`); } catch (err) { showError(err, card); return; }
  if (state.jobs[cap.name] !== id) return;  // superseded by a newer job
  bar.firstElementChild.style.width = `${Math.round(100 * job.progress.fraction)}%`;
  setBusy(card, `${job.status} ${Math.round(100 * job.progress.fraction)}%`);
  if (job.status === "queued" || job.status === "running") { setTimeout(() => pollJob(cap, card, id, key), 400); return; }
  bar.hidden = true;
  card.querySelector(".card-head button:last-child").hidden = true;
  if (job.status === "done") { renderSection(card, job.section, job.result, key); setBusy(card, `done in ${job.elapsed_s.toFixed(1)} s`); }
  else if (job.status === "failed") showError({ body: job.error }, card);
  else setBusy(card, job.status);
}

async function cancelJob(name) {
  const id = state.jobs[name];
  if (id) { try { await api(`api/jobs/${id}`, undefined, "DELETE"); } catch (err) { /* already gone */ } }
}

function usePlan(plan) {
  state.tab === "yaml" && switchTab("form");
  for (const key of ["tp", "pp", "dp", "cp", "ep", "vpp"]) $(`#f-${key}`).value = plan[key];
  $("#f-sequence_parallel").checked = Boolean(plan.sequence_parallel);
  $("#f-micro_batch_size").value = plan.micro_batch_size;
  $("#f-recompute").value = plan.recompute;
  $("#f-zero_stage").value = String(plan.zero_stage);
  runAll();
}

// ---- top-level actions ----------------------------------------------------------------

async function runAll() {
  clearErrors();
  $("#intro") && $("#intro").remove();
  const estimate = state.caps.find(c => c.name === "estimate");
  if (!(await runCapability(estimate))) return;  // a scenario mistake: shown once, next to its field
  for (const cap of state.caps) {
    if (QUICK_SKIP.has(cap.name) || cap.name === "search") continue;
    runCapability(cap);
  }
}

async function downloadReport() {
  clearErrors();
  try {
    const blob = await api("api/report", { ...scenarioBody(), charts: "plotly" });
    const a = el("a", { href: URL.createObjectURL(blob), download: "colossim-report.html" });
    document.body.append(a);
    a.click();
    a.remove();
  } catch (err) { showError(err); }
}

function switchTab(tab) {
  if (tab === "yaml" && state.tab === "form") {
    api("api/scenario", { scenario: formToScenario() }).then(out => { $("#yaml").value = out.yaml; })
      .catch(() => {});
  }
  state.tab = tab;
  $("#form-pane").hidden = tab !== "form";
  $("#yaml-pane").hidden = tab !== "yaml";
  document.querySelectorAll(".tab").forEach(b => b.classList.toggle("active", b.dataset.tab === tab));
}

function choosePreset(id) {
  const p = state.presets[id];
  if (!p) return;
  scenarioToForm(p.scenario);
  $("#yaml").value = p.yaml;
  clearErrors();
  markStale();
}

async function init() {
  const [health, caps, presets, catalog] = await Promise.all(
    [api("api/health"), api("api/capabilities"), api("api/presets"), api("api/catalog")]);
  $("#server-status").textContent = `colossim ${health.version}`;
  state.caps = caps;
  setSelect($("#f-model"), catalog.models.map(m => ({ value: m.name, label: `${m.label} (${m.params_b}B)` })), "(custom)");
  setSelect($("#f-cluster"), catalog.clusters.map(c => ({ value: c.name, label: `${c.label} (${c.num_gpus.toLocaleString()} ${c.gpu})` })), "(custom)");
  setSelect($("#f-gpu"), catalog.gpus.map(g => ({ value: g.name, label: g.name })), "(cluster's)");
  for (const p of presets) {
    state.presets[p.id] = p;
    $("#preset").append(el("option", { value: p.id, textContent: p.name }));
  }
  const panels = $("#panels");
  for (const cap of caps) panels.append(makeCard(cap));
  const validate = makeCard({ name: "validate", title: "Published runs (validation)", long: false }, async () => {
    setBusy(validate, "running...");
    try { const out = await api("api/validate"); renderSection(validate, out.section, out.result, null); setBusy(validate, ""); }
    catch (err) { showError(err, validate); }
  });
  panels.append(validate);
  $("#preset").addEventListener("change", e => choosePreset(e.target.value));
  for (const type of ["input", "change"]) {
    $("#form-pane").addEventListener(type, markStale);
    $("#yaml").addEventListener(type, markStale);
  }
  document.querySelectorAll(".tab").forEach(b => b.addEventListener("click", () => switchTab(b.dataset.tab)));
  $("#run-estimate").addEventListener("click", runAll);
  $("#run-search").addEventListener("click", () => {
    $("#intro") && $("#intro").remove();
    const search = state.caps.find(c => c.name === "search");
    if (search) runCapability(search);
  });
  $("#run-report").addEventListener("click", downloadReport);
  choosePreset(presets[0].id);
  $("#preset").value = presets[0].id;
  document.body.dataset.ready = "1";
}

init().catch(err => { $("#scenario-error").textContent = `could not reach the server: ${err.message}`; });

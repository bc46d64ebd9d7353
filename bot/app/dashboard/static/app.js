// The dashboard's pages: each reads the JSON API (same origin, the token travels as a cookie)
// and fills its tables. No framework, nothing loaded from the network.
"use strict";

const REFRESH_MS = 3000;  // the live view polls /api/status this often

const $ = (id) => document.getElementById(id);
const money = (x) => x == null ? "n/a" : x.toLocaleString("en-US",
  {minimumFractionDigits: 2, maximumFractionDigits: 2});
const fraction = (x) => x == null ? "n/a" : x.toFixed(4);
const utc = (iso) => iso ? iso.replace("T", " ").slice(0, 19) : "";
const query = new URLSearchParams(location.search);

async function api(path) {
  const response = await fetch(path, {credentials: "same-origin"});
  const body = await response.json().catch(() => ({error: response.statusText}));
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function showError(error) {
  $("error").textContent = error ? String(error.message || error) : "";
  $("error").hidden = !error;
}

function cell(row, text, attrs = {}) {
  const td = row.insertCell();
  if (text instanceof Node) td.append(text); else td.textContent = text;
  for (const [key, value] of Object.entries(attrs)) td.setAttribute(key, value);
  return td;
}

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

function links(items) {
  const span = document.createElement("span");
  items.forEach((item, i) => { if (i) span.append(" "); span.append(item); });
  return span;
}

function fill(table, rows, render) {
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const item of rows) render(body.insertRow(), item);
}

function bar(value) {
  const span = document.createElement("span");
  span.className = "bar";
  span.style.width = `${Math.round(Math.max(0, value) * 200)}px`;
  return span;
}

function probabilities(table, values) {
  fill(table, values ? Object.entries(values) : [["none", null]], (row, [name, p]) => {
    cell(row, name);
    cell(row, p == null ? "(static policy)" : fraction(p), {class: "num", "data-key": name});
  });
}

// -- runs ---------------------------------------------------------------------------------

async function runsPage() {
  try {
    fill($("runs"), await api("/api/runs"), (row, run) => {
      row.dataset.run = run.run_id;
      const id = ["paper", "live"].includes(run.mode)
        ? link(`/live?run=${encodeURIComponent(run.run_id)}`, run.run_id) : run.run_id;
      cell(row, id);
      cell(row, run.mode);
      cell(row, run.symbols.join(", "));
      cell(row, run.policies.join(", "));
      cell(row, utc(run.started));
      const base = `/reports/${encodeURIComponent(run.run_id)}/`;
      cell(row, run.reports.length ? links(run.reports.map((page) => link(base + page,
        page.replace(/\/?index\.html$/, "") || "report"))) : (run.report_dir || "-"));
      // One journalled run per symbol and policy: name them when there are several.
      const several = run.journal_runs.length > 1;
      cell(row, links(run.journal_runs.filter((j) => j.decisions > 0).map((j) => link(
        `/decision?run=${encodeURIComponent(j.id)}&n=1`,
        `${several ? `${j.symbol} ${j.policy}: ` : ""}${j.decisions}`))), {class: "decisions"});
    });
  } catch (error) { showError(error); }
}

// -- live node ----------------------------------------------------------------------------

async function livePage() {
  const select = $("session");
  try {
    const sessions = (await api("/api/runs")).filter((r) => ["paper", "live"].includes(r.mode));
    for (const run of sessions) select.add(new Option(`${run.run_id} (${run.mode})`, run.run_id));
    if (query.get("run")) select.value = query.get("run");
  } catch (error) { showError(error); }
  select.onchange = () => { location.search = `?run=${encodeURIComponent(select.value)}`; };
  const refresh = async () => {
    try {
      const run = select.value ? `?run=${encodeURIComponent(select.value)}` : "";
      const status = await api(`/api/status${run}`);
      showError(null);
      showLive(status);
    } catch (error) { showError(error); }
    $("updated").textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC`;
  };
  await refresh();
  setInterval(refresh, REFRESH_MS);
}

function showLive(s) {
  const run = s.run;
  $("title").textContent = `${run.run_id}: ${run.mode} on ${s.venue}, ${run.symbol} ` +
    `${run.bar} bars, policy ${run.policy}`;
  $("state").textContent = s.state + (s.pid ? ` (pid ${s.pid})` : "");
  if (s.redis_error) showError(`Redis: ${s.redis_error}`);
  const market = s.market;
  const unknown = s.redis_error ? "unknown (Redis)" : "no bar yet";
  $("equity").textContent = market ? money(market.equity) : unknown;
  const peak = s.kill_switch && s.kill_switch.peak;
  $("drawdown").textContent = market && peak
    ? `${(100 * Math.max(0, 1 - market.equity / peak)).toFixed(2)}% below the peak ${money(peak)}`
    : "";
  $("staleness").textContent = market ? `last bar ${utc(market.last_bar)} UTC, ${market.text}`
    : `${unknown}; staleness unknown`;
  $("staleness").className = market && (market.stale || market.clock_problem) ? "bad" : "ok";
  const kill = s.kill_switch || {};
  $("kill-switch").textContent = kill.tripped ? "TRIPPED" : s.kill_switch ? "armed" : "n/a";
  $("kill-switch").className = `value ${kill.tripped ? "bad" : "ok"}`;
  $("kill-reason").textContent = kill.tripped ? `${kill.tripped_at}: ${kill.reason}` : "";
  showRouter(s.router);
  fill($("positions"), s.positions || [], (row, p) => {
    row.dataset.strategy = p.strategy;
    cell(row, p.strategy);
    cell(row, String(p.qty), {class: "num qty"});
    cell(row, money(p.avg_price), {class: "num"});
    cell(row, money(p.realized_pnl), {class: "num"});
    cell(row, money(p.unrealized_pnl), {class: "num"});
  });
  $("held-back").textContent = s.held_back.map((h) =>
    `Held back: ${h.strategy} since ${utc(h.since)} UTC: ${h.reason}`).join("\n");
  fill($("events"), s.events, (row, e) => {
    cell(row, utc(e.time));
    cell(row, e.kind);
    cell(row, Object.entries(e.payload).map(([k, v]) => `${k}=${v}`).join(", "));
  });
}

function showRouter(router) {
  if (!router) {
    $("router").textContent = "no decision yet";
    fill($("weights"), [], () => {});
    return;
  }
  $("router").textContent = `${utc(router.time)} UTC by ${router.policy}` +
    (router.fallback ? ` (FALLBACK: ${router.error})` : "") +
    `; ${router.decisions} decisions, ${router.fell_back} fell back`;
  const rows = router.by_expert.flatMap((group) => group.strategies);
  fill($("weights"), rows, (row, s) => {
    row.dataset.strategy = s.name;
    cell(row, s.name);
    cell(row, fraction(s.weight), {class: "num weight"});
    cell(row, bar(s.weight));
  });
  probabilities($("experts"), router.experts);
  probabilities($("regime"), router.regime);
}

// -- decision explorer ----------------------------------------------------------------------

async function decisionPage() {
  const run = query.get("run");
  const n = Number(query.get("n") || 1);
  const base = `/api/decisions/${encodeURIComponent(run)}/${n}`;
  const go = (k) => `/decision?run=${encodeURIComponent(run)}&n=${k}`;
  try {
    const all = `/api/decisions/${encodeURIComponent(run)}`;
    const [d, list] = await Promise.all([api(base), api(all)]);
    $("title").textContent = `${d.run.run_id}: ${d.run.mode} ${d.run.symbol} ${d.run.bar}`;
    $("of").textContent = `of ${d.of}`;
    for (const item of list.decisions) {
      const label = `${item.n}. ${utc(item.time)} ${item.top_expert}` +
        (item.regime ? `, ${item.regime}` : "") + (item.fallback ? " (fallback)" : "");
      $("jump").add(new Option(label, item.n));
    }
    $("jump").value = n;
    $("jump").onchange = () => { location.href = go($("jump").value); };
    if (n > 1) $("previous").href = go(n - 1);
    if (n < d.of) $("next").href = go(n + 1);
    $("summary").textContent = `Decision ${n} at ${utc(d.time)} UTC by ${d.policy}` +
      (d.policy_version ? ` version ${d.policy_version}` : "") +
      (d.latency_ms != null ? `, ${d.latency_ms.toFixed(1)} ms` : "") +
      (d.fallback ? `. FALLBACK: the static policy decided; the model failed: ${d.error}` : "") +
      (d.close != null ? `; close ${money(d.close)}` : "");
    const img = document.createElement("img");
    img.className = "chart";
    img.alt = "the chart the model saw";
    img.src = `${base}/chart`;
    $("chart").replaceChildren(d.chart ? img : "none (this policy reads no chart)");
    showWeights(d.by_expert);
    probabilities($("regime"), d.regime);
    showOutcome(d.outcome);
    $("attribute").onclick = () => attribute(`${base}/attributions`);
  } catch (error) { showError(error); }
}

function showWeights(groups) {
  const rows = groups.flatMap((g) => g.strategies.map((s, i) => ({group: g, s, first: !i})));
  fill($("weights"), rows, (row, {group, s, first}) => {
    row.dataset.strategy = s.name;
    if (first) {
      cell(row, `${group.expert} ${fraction(group.weight)}`, {rowspan: group.strategies.length});
    }
    cell(row, s.name);
    cell(row, fraction(s.weight), {class: "num weight"});
    cell(row, group.weight > 0 ? fraction(s.weight / group.weight) : "-", {class: "num"});
  });
}

function showOutcome(outcome) {
  $("outcome-note").textContent = outcome.note ||
    `PnL per strategy until ${utc(outcome.until)} UTC (the journalled fills, marked at the ` +
    "journalled closes)";
  const rows = outcome.pnl ? [...Object.entries(outcome.pnl), ["total", outcome.total]] : [];
  fill($("outcome"), rows, (row, [name, pnl]) => {
    row.dataset.strategy = name;
    cell(row, name);
    cell(row, money(pnl), {class: "num pnl"});
  });
}

async function attribute(path) {
  const out = $("attributions");
  out.hidden = false;
  out.textContent = "computing...";
  try { out.textContent = (await api(path)).lines.join("\n"); }
  catch (error) { out.textContent = String(error.message || error); }
}

({runs: runsPage, live: livePage, decision: decisionPage})[document.body.dataset.page]();

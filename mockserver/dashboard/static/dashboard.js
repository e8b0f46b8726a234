// cutout-mock dashboard: plain JavaScript, no build step. Live regions redraw on the server's
// event stream (/__mock/ui/events); every action is a fetch to the control plane's own API.
"use strict";

const BASE = document.body.dataset.base;
const TOKEN = document.querySelector('meta[name="control-token"]');  // present under --control-token
const AUTH = TOKEN ? { Authorization: `Bearer ${TOKEN.content}` } : {};
const JSON_HEADERS = { "Content-Type": "application/json", Accept: "application/json", ...AUTH };

function clock(at) {
  return at == null ? "" : new Date(at * 1000).toISOString().replace("T", " ").slice(0, 23);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// The control plane: JSON in and out; a refusal's {"detail"} is shown, never thrown away.
async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json", ...AUTH } };
  if (method !== "GET" && method !== "DELETE") {
    init.headers = JSON_HEADERS;
    init.body = JSON.stringify(body || {});
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
  return { ok: response.ok, status: response.status, data };
}

function say(text, where = "toast") {
  const box = document.getElementById(where) || document.getElementById("toast");
  box.textContent = text;
}

function answered(method, path, result) {
  const detail = result.data && result.data.detail ? `: ${result.data.detail}` : "";
  say(`${method} ${path} → ${result.status}${detail}`, document.getElementById("answer") ? "answer" : "toast");
  return result;
}

async function refreshClock() {
  const result = await api("GET", "/__mock/clock");
  if (!result.ok) return;
  const out = document.getElementById("clock-now");
  out.textContent = clock(result.data.now);
  out.dataset.now = result.data.now;
  const tag = out.nextElementSibling;
  if (tag) tag.textContent = result.data.clock === "virtual" ? "frozen" : `running ×${result.data.speed}`;
  const state = document.getElementById("clock-state");
  if (state) state.textContent = `${clock(result.data.now)} (${result.data.clock === "virtual" ? "frozen" : "running ×" + result.data.speed})`;
}

// --- live regions ------------------------------------------------------------------------------

const redrawers = [];

async function redrawLive() {
  const region = document.getElementById("live");
  if (region && region.dataset.live) {
    const response = await fetch(region.dataset.live, { headers: { Accept: "text/html" } });
    if (response.ok) region.innerHTML = await response.text();
  }
}

function onChange(redraw) { redrawers.push(redraw); }

async function changed() {
  await Promise.all([refreshClock(), ...redrawers.map((redraw) => redraw())]);
  document.body.dataset.redrawn = String(Number(document.body.dataset.redrawn || 0) + 1);
}

function listen() {
  if (!window.EventSource) { setInterval(changed, 2000); return; }
  const source = new EventSource(`${BASE}/events`);
  source.addEventListener("change", changed);
  // Each stream is short and the server compares against what it saw when it opened, so a change
  // between two streams would be missed: every (re)connection redraws once.
  source.addEventListener("open", () => { document.body.dataset.live = "on"; changed(); });
}

// --- journal -------------------------------------------------------------------------------------

function statusMatches(filter, status) {
  filter = (filter || "").trim().toLowerCase();
  if (!filter) return true;
  if (/^[1-5]xx$/.test(filter)) return String(status)[0] === filter[0];
  return String(status) === filter;
}

function quote(text) { return "'" + String(text).replace(/'/g, "'\\''") + "'"; }

function curl(entry) {
  const url = location.origin + entry.path + (entry.query ? "?" + entry.query : "");
  const parts = ["curl", "-X", entry.method, quote(url)];
  for (const [name, value] of Object.entries(entry.request_headers || {})) {
    if (name === "content-length") continue;
    parts.push("-H", quote(`${name}: ${value}`));
  }
  if (entry.request_body && typeof entry.request_body === "string" && !/^<\d+ bytes/.test(entry.request_body)) {
    parts.push("--data-raw", quote(entry.request_body));
  }
  return parts.join(" ") + "  # add your key's header: credentials are not in the journal";
}

function headersList(headers) {
  const list = el("dl", { class: "facts" });
  for (const [name, value] of Object.entries(headers || {})) list.append(el("dt", {}, name), el("dd", {}, el("code", {}, value)));
  return list;
}

function pretty(body) {
  if (typeof body !== "string") return JSON.stringify(body, null, 2);
  try { return JSON.stringify(JSON.parse(body), null, 2); } catch (e) { return body; }
}

function entryView(entry) {
  const command = curl(entry);
  return el("details", { class: "entry", "data-status": entry.status, "data-provider": entry.provider || "" },
    el("summary", {},
      el("time", {}, clock(entry.at)),
      el("strong", {}, entry.method), el("code", {}, entry.path + (entry.query ? "?" + entry.query : "")),
      el("span", { class: `code-${String(entry.status)[0]}` }, entry.status),
      el("span", { class: "tag" }, entry.provider || "-"), entry.key ? el("code", {}, entry.key) : null,
      el("span", { class: "tag" }, `${entry.duration_ms} ms`)),
    el("div", {},
      el("h3", {}, "Request headers"), headersList(entry.request_headers),
      entry.request_body ? [el("h3", {}, "Request body"), el("pre", {}, pretty(entry.request_body))] : null,
      el("h3", {}, "Response headers"), headersList(entry.response_headers),
      el("h3", {}, "Response body"), el("pre", {}, pretty(entry.response_body)),
      el("p", {}, el("button", { type: "button", class: "copy-curl", onclick: async (event) => {
        try { await navigator.clipboard.writeText(command); say("curl command copied"); }
        catch (e) { say("Copy failed: select the command below"); }
        event.target.dataset.copied = "yes";
      } }, "Copy as curl")),
      el("pre", { class: "curl" }, command)));
}

async function journalPage(params, keep) {
  const query = new URLSearchParams();
  for (const name of ["provider", "key", "path", "method"]) if (params.get(name)) query.set(name, params.get(name));
  query.set("limit", params.get("limit") || "200");
  if (params.get("cursor")) query.set("cursor", params.get("cursor"));
  const result = await api("GET", `/__mock/journal?${query}`);
  if (!result.ok) return { entries: [], error: `${result.status}: ${result.data && result.data.detail}` };
  const entries = (result.data.entries || []).filter((e) => statusMatches(params.get("status"), e.status) && (!keep || keep(e)));
  return { entries, next: result.data.next_cursor || null };
}

function renderEntries(box, found, params, keep) {
  box.replaceChildren();
  if (found.error) { box.append(el("p", { class: "empty" }, found.error)); return; }
  box.append(el("p", { class: "note" }, `${found.entries.length} request${found.entries.length === 1 ? "" : "s"}, oldest first`));
  if (found.next) {  // the control plane pages from the newest back: older ones go on top
    box.append(el("p", {}, el("button", { type: "button", class: "older", onclick: async () => {
      const more = new URLSearchParams(params); more.set("cursor", found.next);
      const page = await journalPage(more, keep);
      found.entries.unshift(...page.entries); found.next = page.next;
      renderEntries(box, found, params, keep);
    } }, "Older requests")));
  }
  box.append(...found.entries.map(entryView));
}

async function showJournal() {
  const form = document.getElementById("journal-filter");
  const params = new URLSearchParams(new FormData(form));
  const box = document.getElementById("journal");
  renderEntries(box, await journalPage(params), params);
}

async function showJobRequests() {
  const box = document.getElementById("job-requests");
  const { provider, key, job } = box.dataset;
  const params = new URLSearchParams({ provider, key });
  const touches = (e) => e.path.includes(job) || String(e.response_body || "").includes(job);
  renderEntries(box, await journalPage(params, touches), params, touches);
}

// --- webhooks ------------------------------------------------------------------------------------

function deliveryView(d) {
  const state = d.delivered ? "delivered" : d.gave_up ? "gave up" : d.in_flight ? "in flight" : `due ${clock(d.due_at)}`;
  const attempts = el("table", {},
    el("caption", {}, `${d.attempts.length} attempt${d.attempts.length === 1 ? "" : "s"}`),
    el("thead", {}, el("tr", {}, ["At", "Kind", "Headers sent", "Answer", "Time"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, d.attempts.map((a) => el("tr", {},
      el("td", {}, clock(a.at)), el("td", {}, a.replay ? "replay" : "delivery"),
      el("td", {}, el("details", { class: "sent" }, el("summary", {}, Object.keys(a.headers || {}).filter((h) => !/^(content-type|user-agent)$/i.test(h)).join(", ") || "headers"), headersList(a.headers))),
      el("td", {}, el("span", { class: `code-${String(a.status || 5)[0]}` }, a.status != null ? a.status : a.error || "no answer"),
        a.answer ? el("pre", { class: "answer" }, a.answer) : null),
      el("td", {}, `${Math.round(a.duration_ms)} ms`)))));
  return el("article", { class: "entry", id: `job-${d.job_id}`, "data-delivery": d.id },
    el("h2", {}, `${d.provider} · `, el("a", { href: `${BASE}/jobs/${d.provider}/${d.job_id}` }, el("code", {}, d.job_id))),
    el("div", {},
      el("p", {}, "To ", el("code", {}, d.url), ` · ${state}`),
      attempts,
      el("details", {}, el("summary", {}, "Payload"), el("pre", {}, JSON.stringify(d.payload, null, 2))),
      el("p", {}, el("button", { type: "button", class: "replay", onclick: async () => {
        answered("POST", `/__mock/webhooks/${d.id}/replay`, await api("POST", `/__mock/webhooks/${encodeURIComponent(d.id)}/replay`));
        await showWebhooks();
      } }, "Replay"))));
}

async function showWebhooks() {
  const box = document.getElementById("webhooks");
  const result = await api("GET", "/__mock/webhooks");
  box.replaceChildren();
  const deliveries = (result.data && result.data.deliveries) || [];
  if (!deliveries.length) box.append(el("p", { class: "empty" }, "No webhook deliveries yet (a job submitted with a webhook URL makes one when it ends)."));
  box.append(...deliveries.map(deliveryView));
}

// --- controls ------------------------------------------------------------------------------------

function formBody(form) {
  const body = {};
  for (const input of form.querySelectorAll("input[name], select[name]")) {
    if (input.type === "checkbox") { body[input.name] = input.checked; continue; }
    if (input.value === "") continue;
    const numeric = input.type === "number" || input.name === "status";
    body[input.name] = numeric ? Number(input.value) : input.value;
  }
  return body;
}

async function submitAction(event) {
  event.preventDefault();
  const form = event.target;
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
  let [method, path] = form.dataset.api.split(" ");
  const body = formBody(form);
  path = path.replace(/\{(\w+)\}/g, (_, name) => { const value = body[name]; delete body[name]; return encodeURIComponent(value); });
  delete body.scenario;
  answered(method, path, await api(method, path, body));
  await loadControls();
  await refreshClock();
}

function removeButton(label, method, path) {
  return el("button", { type: "button", onclick: async () => { answered(method, path, await api(method, path)); await loadControls(); } }, label);
}

async function loadControls() {
  const [accounts, limits, faults] = await Promise.all([api("GET", "/__mock/accounts"), api("GET", "/__mock/ratelimits"), api("GET", "/__mock/faults")]);
  const list = (accounts.data && accounts.data.accounts) || [];
  document.getElementById("accounts").replaceChildren(list.length ? el("table", {},
    el("caption", {}, "Keys and balances"),
    el("thead", {}, el("tr", {}, ["Provider", "Key", "Balance", "Plan", ""].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, list.map((a) => el("tr", { "data-account": `${a.provider}/${a.key}` }, el("td", {}, a.provider), el("td", {}, el("code", {}, a.key)), el("td", {}, a.balance), el("td", {}, a.plan),
      el("td", {}, removeButton(`Delete ${a.key}`, "DELETE", `/__mock/accounts/${a.provider}/${encodeURIComponent(a.key)}`))))))
    : el("p", { class: "empty" }, "No accounts yet (a key gets one on its first request)."));
  if (limits.ok) {
    const overrides = Object.entries(limits.data.overrides || {}).map(([p, l]) => `${p}: ${l.requests} per ${l.window} s`);
    document.getElementById("limits-state").textContent = `${limits.data.enabled ? "enforced" : "off"}${overrides.length ? "; " + overrides.join(", ") : ""}`;
    document.querySelector("#limits-enable input[name=enabled]").checked = !!limits.data.enabled;
  }
  const rules = (faults.data && faults.data.rules) || [];
  document.getElementById("faults").replaceChildren(rules.length ? el("table", {},
    el("caption", {}, "Fault rules, tried in order"),
    el("thead", {}, el("tr", {}, ["Rule", "Action", "Status", "Where", "Fired", ""].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rules.map((r) => el("tr", { "data-rule": r.id }, el("td", {}, el("code", {}, r.id)), el("td", {}, r.action), el("td", {}, r.status || ""),
      el("td", {}, [r.provider || "every provider", r.operation, r.key && `key ${r.key}`].filter(Boolean).join(" · ")),
      el("td", {}, `${r.fired}${r.times ? " of " + r.times : ""}`),
      el("td", {}, removeButton(`Remove ${r.id}`, "DELETE", `/__mock/faults/${encodeURIComponent(r.id)}`))))))
    : el("p", { class: "empty" }, "No fault rules: every request is answered as the provider would."));
}

function controlsPage() {
  for (const form of document.querySelectorAll("form[data-api]")) form.addEventListener("submit", submitAction);
  const presets = JSON.parse(document.getElementById("scenario-rules").textContent);
  document.getElementById("fault-scenario").addEventListener("change", (event) => {
    const rule = presets[event.target.value] || {};
    const form = event.target.form;
    form.elements.action.value = rule.action || "status";
    form.elements.status.value = rule.status ? String(rule.status) : "";
    form.elements.delay.value = rule.delay != null ? String(rule.delay) : "";
  });
  const operation = document.getElementById("fault-operation");
  const provider = document.getElementById("fault-provider");
  const documented = JSON.parse(document.getElementById("documented-errors").textContent);
  const status = document.getElementById("fault-status");
  const generic = [...status.options].map((o) => [o.value, o.textContent]);
  // The status list: the errors the provider's spec documents for the operation (or any of its
  // operations), each with its description; every common status when no provider is picked.
  function documentedStatuses() {
    const ops = documented[provider.value] || null;
    const note = document.getElementById("fault-documented");
    let choices = generic;
    if (ops) {
      const found = new Map();
      for (const [op, errors] of Object.entries(ops)) {
        if (operation.value && op !== operation.value) continue;
        for (const [code, text] of errors) if (!found.has(code)) found.set(code, text);
      }
      choices = [["", "(default)"], ...[...found.entries()].sort((a, b) => a[0] - b[0]).map(([code, text]) => [String(code), `${code} ${text}`])];
      note.textContent = `${found.size} error status${found.size === 1 ? "" : "es"} documented by ${provider.value}${operation.value ? " for " + operation.value : ""}.`;
    }
    const kept = status.value;
    status.replaceChildren(...choices.map(([value, text]) => el("option", { value }, text)));
    if ([...status.options].some((o) => o.value === kept)) status.value = kept;
  }
  provider.addEventListener("change", (event) => {
    for (const option of operation.querySelectorAll("option[data-provider]")) option.hidden = !!event.target.value && option.dataset.provider !== event.target.value;
    operation.value = "";
    documentedStatuses();
  });
  operation.addEventListener("change", documentedStatuses);
  loadControls();
  refreshClock();
  onChange(loadControls);
}

// --- pages ---------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  if (document.getElementById("live")) onChange(redrawLive);
  if (document.getElementById("job-requests")) { showJobRequests(); onChange(showJobRequests); }
  if (page === "journal") {
    const form = document.getElementById("journal-filter");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const params = new URLSearchParams(new FormData(form));
      for (const [name, value] of [...params]) if (!value) params.delete(name);
      history.replaceState(null, "", `${BASE}/journal${params.size ? "?" + params : ""}`);
      await showJournal();
    });
    showJournal();
  }
  if (page === "webhooks") {
    document.querySelector("[data-action=flush]").addEventListener("click", async () => {
      answered("POST", "/__mock/webhooks/flush", await api("POST", "/__mock/webhooks/flush"));
      await showWebhooks();
    });
    showWebhooks();
    onChange(showWebhooks);
  }
  if (page === "controls") controlsPage();
  listen();
});

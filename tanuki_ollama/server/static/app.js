// tanuki web UI: plain JavaScript, no build step. Talks to the same Ollama-compatible API editors use.
"use strict";
const $ = (id) => document.getElementById(id);
const history = [];
const keyInput = $("apikey");
keyInput.value = localStorage.getItem("tanuki-key") || "";
keyInput.addEventListener("change", () => { localStorage.setItem("tanuki-key", keyInput.value); refresh(); });

function headers() {
  const h = { "Content-Type": "application/json" };
  if (keyInput.value) h["Authorization"] = "Bearer " + keyInput.value;
  return h;
}

async function api(path, body) {
  const resp = await fetch(path, body === undefined ? { headers: headers() }
    : { method: "POST", headers: headers(), body: JSON.stringify(body) });
  if (!resp.ok) {
    let msg = resp.status + " " + resp.statusText;
    try { const j = await resp.json(); msg = j.error?.message || j.error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return resp;
}

function addMessage(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = role === "user" ? "you" : role === "error" ? "error" : $("model").value;
  const body = document.createElement("span");
  body.className = "body";
  body.textContent = text;
  div.append(who, body);
  $("messages").append(div);
  div.scrollIntoView({ block: "end" });
  return body;
}

async function loadModels() {
  const sel = $("model");
  const previous = sel.value;
  const tags = await (await api("/api/tags")).json();
  sel.innerHTML = "";
  for (const m of tags.models) {
    const opt = document.createElement("option");
    opt.value = m.name.replace(/:latest$/, "");
    opt.textContent = opt.value === "tanuki" ? "tanuki (the team)" : opt.value;
    sel.append(opt);
  }
  if (previous) sel.value = previous;
}

async function loadResidency() {
  const ps = await (await api("/api/ps")).json();
  const ul = $("ps");
  ul.innerHTML = "";
  for (const m of ps.models) {
    const li = document.createElement("li");
    li.textContent = `${m.name} — ${(m.size / 2 ** 20).toFixed(0)} MiB, ctx ${m.context_length || "?"}`;
    ul.append(li);
  }
  if (!ps.models.length) ul.innerHTML = '<li class="muted">none</li>';
}

async function loadRuns() {
  try {
    const runs = (await (await api("/api/runs")).json()).runs;
    const sel = $("runs");
    sel.innerHTML = '<option value="">—</option>';
    for (const id of runs) { const o = document.createElement("option"); o.value = o.textContent = id; sel.append(o); }
  } catch (e) { /* key without the tools scope: no run history */ }
}

function renderDiff(diff) {
  const pre = $("run-diff");
  pre.innerHTML = "";
  for (const line of (diff || "(no changes)").split("\n")) {
    const span = document.createElement("span");
    span.className = line.startsWith("+") && !line.startsWith("+++") ? "add"
      : line.startsWith("-") && !line.startsWith("---") ? "del" : line.startsWith("@@") ? "hunk" : "";
    span.textContent = line + "\n";
    pre.append(span);
  }
}

async function showRun(runId) {
  const data = await (await api("/api/runs/" + encodeURIComponent(runId))).json();
  $("run-empty").hidden = true;
  $("run").hidden = false;
  const steps = $("run-steps");
  steps.innerHTML = "";
  let report = null;
  for (const ev of data.events) {
    if (ev.kind === "report") { report = ev.data; continue; }
    const li = document.createElement("li");
    li.textContent = `[${ev.kind}] ${ev.data.message || ""}`;
    steps.append(li);
  }
  if (report) {
    $("run-head").innerHTML = "";
    const s = document.createElement("span");
    s.className = "status-" + report.status;
    s.textContent = `${report.run_id}: ${report.status}`;
    const summary = document.createElement("p");
    summary.textContent = report.summary;
    $("run-head").append(s, summary);
    const ev = report.evidence || {};
    $("run-evidence").textContent = `tests before: ${ev.tests_before?.summary || "not run"} · ` +
      `tests after: ${ev.tests_after?.summary || "not run"}`;
    renderDiff(report.diff);
  }
}

async function send(event) {
  event.preventDefault();
  const text = $("prompt").value.trim();
  if (!text) return;
  $("prompt").value = "";
  addMessage("user", text);
  history.push({ role: "user", content: text });
  const body = addMessage("assistant", "");
  $("send").disabled = true;
  let answer = "";
  try {
    const resp = await api("/api/chat", { model: $("model").value, messages: history, stream: true });
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line) continue;
        const chunk = JSON.parse(line);
        if (chunk.error) throw new Error(chunk.error);
        answer += chunk.message?.content || "";
        for (const call of chunk.message?.tool_calls || []) answer += `\n[tool call] ${call.function.name}(${JSON.stringify(call.function.arguments)})`;
        body.textContent = answer;
        if (chunk.tanuki_run?.run_id) { await showRun(chunk.tanuki_run.run_id); loadRuns(); }
      }
    }
    history.push({ role: "assistant", content: answer });
    body.parentElement.dataset.done = "true";
  } catch (e) {
    body.parentElement.className = "msg error";
    body.textContent = String(e.message || e);
  } finally {
    $("send").disabled = false;
    loadResidency().catch(() => {});
  }
}

async function refresh() {
  try { await loadModels(); await loadResidency(); await loadRuns(); }
  catch (e) { addMessage("error", String(e.message || e)); }
}

$("composer").addEventListener("submit", send);
$("prompt").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) send(e); });
$("runs").addEventListener("change", (e) => { if (e.target.value) showRun(e.target.value); });
refresh();
setInterval(() => loadResidency().catch(() => {}), 10000);

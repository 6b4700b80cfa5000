// The operator dashboard: polls /dashboard/state and renders it. Every value goes in with
// textContent (never innerHTML): endpoints and model names come from others.
"use strict";

const POLL_MS = 2000;
const ETH = 10n ** 18n;
let previous = new Map(); // task id -> "status/phase", for the feed
let first = true;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function eth(wei) {
  const value = BigInt(wei);
  const whole = value / ETH;
  const frac = (value % ETH).toString().padStart(18, "0").slice(0, 6);
  return `${whole}.${frac} ETH`;
}

function short(hex) {
  return hex && hex.length > 14 ? `${hex.slice(0, 10)}...${hex.slice(-4)}` : hex || "-";
}

function feed(line) {
  const list = document.getElementById("feed");
  const item = el("li", `${new Date().toLocaleTimeString()}  ${line}`);
  list.prepend(item);
  while (list.children.length > 50) list.lastChild.remove();
}

function renderTask(task) {
  const row = el("tr");
  row.dataset.task = task.task_id;
  row.append(el("td", `#${task.task_id}`));
  row.append(el("td", task.model));
  row.append(el("td", `${task.status} (${task.phase})`));
  const consensus = el("td", task.digest ? short(task.digest) : "-", "mono digest");
  if (task.digest) consensus.title = task.digest;
  row.append(consensus);
  const members = el("td");
  for (const vote of task.votes) {
    const line = el("div", null, "mono vote");
    let text = `${short(vote.operator)} `;
    if (vote.distances) text += `distance ${vote.distances.join("/")}`;
    else text += vote.revealed ? "revealed" : "not revealed";
    if (vote.agrees !== null) text += vote.agrees ? " agrees" : " deviates";
    line.textContent = text;
    if (vote.agrees !== null) line.classList.add(vote.agrees ? "agrees" : "deviates");
    members.append(line);
  }
  members.append(el("div", `tolerance ${task.tolerance.join("/")}`, "mono"));
  row.append(members);
  row.append(el("td", task.outcome ? `${task.state}: ${task.outcome}` : task.state));
  const artifact = el("td");
  if (task.artifact === "image/png") {
    const img = el("img", null, "artifact");
    img.src = `/tasks/${task.task_id}/artifact`;
    img.alt = `task ${task.task_id} image, digest ${task.digest || "pending"}`;
    artifact.append(img);
  } else if (task.artifact) {
    const text = el("div", "...", "mono text-artifact");
    fetch(`/tasks/${task.task_id}/tokens`)
      .then((r) => (r.ok ? r.json() : null))
      .then((body) => { if (body) text.textContent = body.text; });
    artifact.append(text);
  } else {
    artifact.textContent = "-";
  }
  row.append(artifact);
  return row;
}

function render(state) {
  document.getElementById("operator").textContent = state.operator;
  document.getElementById("stake").textContent = eth(state.stake_wei);
  document.getElementById("credit").textContent = eth(state.credit_wei);
  document.getElementById("standing").textContent =
    !state.active ? "not registered" : state.paused ? "paused" : "active";
  document.getElementById("endpoint").textContent = state.endpoint;
  document.getElementById("chain").textContent =
    `chain ${state.chain_id}, block ${state.head_block}, oracle ${short(state.oracle)}`;
  const models = document.getElementById("models");
  models.replaceChildren(...Object.entries(state.models).map(
    ([id, name]) => el("li", `${name}  ${short(id)}`)));
  const open = document.getElementById("open");
  const phases = Object.entries(state.open_tasks);
  open.replaceChildren(...(phases.length
    ? phases.map(([phase, ids]) => el("li", `${phase}: ${ids.map((i) => "#" + i).join(", ")}`))
    : [el("li", "none")]));
  const body = document.querySelector("#recent tbody");
  body.replaceChildren(...state.recent.map(renderTask));
  const now = new Map(state.recent.map((t) => [t.task_id, `${t.status}/${t.phase}`]));
  if (first) {
    feed(`connected to ${state.operator}: ${state.recent.length} recent task(s)`);
  } else {
    for (const [id, where] of now) {
      if (previous.get(id) !== where) feed(`task #${id}: ${where}`);
    }
  }
  previous = now;
  first = false;
}

async function poll() {
  const live = document.getElementById("live");
  try {
    const response = await fetch("/dashboard/state");
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
    live.textContent = `live, updated ${new Date().toLocaleTimeString()}`;
    live.className = "live ok";
  } catch (error) {
    live.textContent = `node unreachable: ${error.message}`;
    live.className = "live down";
  }
  setTimeout(poll, POLL_MS);
}

poll();

// Playground: pick a provider and model, submit a prompt as a job, watch its tokens arrive, cancel it.
import { api } from "./api.js";
import { $, el, clear, flash } from "./dom.js";
import { JobStream, cancelJob } from "./jobstream.js";

let catalog = [];
let current = null;

function fillModels() {
  const entry = catalog.find((p) => p.provider === $("pg-provider").value);
  clear($("pg-model"));
  for (const model of entry ? entry.models : []) $("pg-model").append(el("option", { value: model }, model));
}

async function loadModels() {
  const data = await api("GET", "/api/models");
  catalog = data.providers;
  clear($("pg-provider"));
  for (const entry of catalog) {
    $("pg-provider").append(el("option", { value: entry.provider, selected: entry.default }, entry.provider));
  }
  fillModels();
}

export function describeResult(job) {
  const parts = [`status ${job.status}`, `attempts ${job.attempts}`];
  const result = job.result;
  if (result && result.usage) parts.push(`tokens in ${result.usage.input_tokens} / out ${result.usage.output_tokens}`);
  if (result && result.model) parts.push(`${result.provider} / ${result.model}`);
  if (job.error) parts.push(`error ${job.error.code}: ${job.error.message}`);
  return parts.join(" · ");
}

function showState(state, stream) {
  $("pg-state").textContent = state;
  $("pg-state").dataset.state = state;
  $("pg-output").textContent = stream.text;
  const note = stream.drops ? `resumed after ${stream.drops} dropped connection(s) at seq ${stream.lastSeq}` : "";
  if (!stream.done) $("pg-meta").textContent = note;
}

async function finish(stream) {
  $("pg-cancel").disabled = true;
  $("pg-submit").disabled = false;
  try {
    const job = await api("GET", `/api/jobs/${encodeURIComponent(stream.jobId)}`);
    const resumed = stream.drops ? ` · resumed ${stream.drops}×` : "";
    $("pg-meta").textContent = describeResult(job) + resumed;
  } catch (err) {
    flash(err.message, "error");
  }
}

async function submit(event) {
  event.preventDefault();
  if (current) current.stop();
  const messages = [];
  const system = $("pg-system").value.trim();
  if (system) messages.push({ role: "system", content: system });
  messages.push({ role: "user", content: $("pg-prompt").value });
  $("pg-submit").disabled = true;
  let job;
  try {
    job = await api("POST", "/api/chat", { messages, provider: $("pg-provider").value, model: $("pg-model").value });
  } catch (err) {
    $("pg-submit").disabled = false;
    flash(err.message, "error");
    return;
  }
  $("pg-run").hidden = false;
  $("pg-job-link").textContent = job.id;
  $("pg-job-link").href = `#jobs/${encodeURIComponent(job.id)}`;
  $("pg-output").textContent = "";
  $("pg-meta").textContent = "";
  $("pg-cancel").disabled = false;
  current = new JobStream(job.id, {
    onState: showState,
    onEvent: (_event, stream) => { $("pg-output").textContent = stream.text; },
    onEnd: (_event, stream) => finish(stream),
  }).start();
}

async function cancel() {
  if (!current) return;
  $("pg-cancel").disabled = true;
  try {
    await cancelJob(current.jobId);
  } catch (err) {
    flash(err.message, "error");
  }
}

export const playground = {
  init() {
    $("pg-provider").addEventListener("change", fillModels);
    $("pg-form").addEventListener("submit", submit);
    $("pg-cancel").addEventListener("click", cancel);
  },
  async show() {
    if (!catalog.length) await loadModels();
  },
  reset() {
    if (current) current.stop();
    current = null;
    catalog = [];
    $("pg-run").hidden = true;
  },
};

// Jobs: the caller's jobs with a status filter and pages, refreshed while any of them is still running;
// one job opened shows its events (replayed, then live), result, usage, attempts and error.
import { api, query } from "./api.js";
import { $, el, append, clear, flash, fmtTime } from "./dom.js";
import { JobStream } from "./jobstream.js";
import { describeResult } from "./playground.js";

const PAGE_SIZE = 10;
const REFRESH_MS = 2000;
let page = 1;
let totalPages = 1;
let timer = null;
let visible = false;
let detail = null;

function row(job) {
  const link = el("a", { href: `#jobs/${encodeURIComponent(job.id)}` }, job.id);
  return el("tr", { "data-job": job.id, "data-status": job.status },
    el("td", {}, link),
    el("td", {}, el("span", { class: `badge ${job.status}` }, job.status)),
    el("td", {}, [job.provider || "–", " / ", job.model || "–"].join("")),
    el("td", {}, String(job.attempts)),
    el("td", {}, fmtTime(job.createdAt)));
}

async function refresh() {
  clearTimeout(timer);
  if (!visible) return;
  let data;
  try {
    data = await api("GET", "/api/jobs" + query({ page, page_size: PAGE_SIZE, status: $("jobs-status").value }));
  } catch (err) {
    flash(err.message, "error");
    return;
  }
  totalPages = Math.max(1, data.total_pages);
  const body = clear($("jobs-table").tBodies[0]);
  for (const job of data.jobs) body.append(row(job));
  if (!data.jobs.length) body.append(el("tr", {}, el("td", { colSpan: 5, class: "empty" }, "No jobs.")));
  $("jobs-page").textContent = `page ${data.page} of ${totalPages} · ${data.total} jobs`;
  $("jobs-prev").disabled = page <= 1;
  $("jobs-next").disabled = page >= totalPages;
  const live = data.jobs.some((job) => job.status === "queued" || job.status === "running");
  if (live && visible) timer = setTimeout(refresh, REFRESH_MS);
}

function eventLine(event) {
  const info = event.type === "token" ? JSON.stringify(event.text)
    : event.type === "failed" ? `${event.error && event.error.code}: ${event.error && event.error.message}`
      : event.type === "started" ? `${event.provider || ""} ${event.model || ""}${event.restarted ? " (restarted)" : ""}`
        : event.type === "retry" ? `retry ${event.retry}: ${event.error && event.error.code}` : "";
  return el("li", { "data-type": event.type }, el("code", {}, `#${event.seq}`), ` ${event.type} `, info);
}

function detailCard(job) {
  const card = clear($("job-detail"));
  card.hidden = false;
  append(card, [
    el("div", { class: "row spread" }, el("h3", {}, `Job ${job.id}`), el("span", { class: `badge ${job.status}`, id: "jd-status" }, job.status)),
    el("p", { class: "meta", id: "jd-meta" }, describeResult(job)),
    el("p", { class: "meta" }, `created ${fmtTime(job.createdAt)} · started ${fmtTime(job.startedAt)} · finished ${fmtTime(job.finishedAt)}`),
    job.conversationId ? el("p", { class: "meta" }, "conversation ", el("a", { href: `#conversations/${encodeURIComponent(job.conversationId)}` }, job.conversationId)) : null,
    el("h4", {}, "Result"),
    el("pre", { class: "output", id: "jd-result" }, job.result && typeof job.result.content === "string" ? job.result.content : ""),
    job.error ? el("p", { class: "error", id: "jd-error" }, `${job.error.code}: ${job.error.message}`) : null,
    el("h4", {}, "Events"),
    el("ol", { class: "events", id: "jd-events" })]);
}

async function openJob(jobId) {
  if (detail) detail.stop();
  let job;
  try {
    job = await api("GET", `/api/jobs/${encodeURIComponent(jobId)}`);
  } catch (err) {
    $("job-detail").hidden = true;
    flash(err.status === 404 ? "No such job." : err.message, "error");
    return;
  }
  detailCard(job);
  const events = [];
  const stream = new JobStream(job.id, {
    onEvent: (event, s) => {
      events.push(event);
      $("jd-events").append(eventLine(event));
      if (job.kind === "chat") $("jd-result").textContent = s.text;
    },
    onEnd: async () => {
      const done = await api("GET", `/api/jobs/${encodeURIComponent(job.id)}`).catch(() => null);
      if (!done || detail !== stream) return;
      detailCard(done); // the stored row: final status, result, usage and error
      for (const event of events) $("jd-events").append(eventLine(event));
      refresh();
    },
  });
  detail = stream;
  stream.start();
}

export const jobs = {
  init() {
    $("jobs-status").addEventListener("change", () => { page = 1; refresh(); });
    $("jobs-prev").addEventListener("click", () => { page = Math.max(1, page - 1); refresh(); });
    $("jobs-next").addEventListener("click", () => { page = Math.min(totalPages, page + 1); refresh(); });
  },
  show(jobId) {
    visible = true;
    refresh();
    if (jobId) openJob(jobId);
    else $("job-detail").hidden = true;
  },
  hide() {
    visible = false;
    clearTimeout(timer);
    if (detail) detail.stop();
  },
};

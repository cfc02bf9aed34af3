// Conversations: list (or search), open one with its messages, and continue it through a job.
import { api, query } from "./api.js";
import { $, el, clear, flash, fmtTime } from "./dom.js";
import { JobStream } from "./jobstream.js";

const PAGE_SIZE = 15;
let page = 1;
let totalPages = 1;
let searchText = "";
let openId = null;
let stream = null;

function item(conversation, note) {
  return el("li", { "data-conversation": conversation.id },
    el("a", { href: `#conversations/${encodeURIComponent(conversation.id)}`, class: "title" }, conversation.title),
    el("span", { class: "meta" }, note || fmtTime(conversation.updatedAt)));
}

async function loadList() {
  let rows;
  let data;
  try {
    if (searchText) {
      data = await api("GET", "/api/search" + query({ query: searchText, page, page_size: PAGE_SIZE }));
      rows = data.results.map((r) => item(r.conversation,
        r.match_type === "message" && r.matched_message ? `message: ${r.matched_message.content.slice(0, 80)}` : "title"));
    } else {
      data = await api("GET", "/api/conversations" + query({ page, page_size: PAGE_SIZE }));
      rows = data.conversations.map((c) => item(c, `${c.messageCount} messages · ${fmtTime(c.updatedAt)}`));
    }
  } catch (err) {
    flash(err.message, "error");
    return;
  }
  totalPages = Math.max(1, data.total_pages);
  clear($("conv-list")).append(...rows);
  if (!rows.length) $("conv-list").append(el("li", { class: "empty" }, searchText ? "Nothing matches." : "No conversations yet."));
  $("conv-page").textContent = `page ${data.page || page} of ${totalPages}`;
  $("conv-prev").disabled = page <= 1;
  $("conv-next").disabled = page >= totalPages;
}

function message(m) {
  return el("li", { class: `msg ${m.role}` }, el("span", { class: "role" }, m.role), el("div", { class: "content" }, m.content));
}

async function openConversation(id) {
  openId = id;
  let conv;
  try {
    conv = await api("GET", `/api/conversations/${encodeURIComponent(id)}`);
  } catch (err) {
    $("conv-detail").hidden = true;
    flash(err.status === 404 ? "No such conversation." : err.message, "error");
    return;
  }
  $("conv-detail").hidden = false;
  $("conv-title").textContent = conv.title;
  $("conv-meta").textContent = `${conv.model}${conv.systemPrompt ? " · system: " + conv.systemPrompt : ""} · created ${fmtTime(conv.createdAt)}`;
  clear($("conv-messages")).append(...conv.messages.map(message));
}

async function continueConversation(event) {
  event.preventDefault();
  const text = $("conv-prompt").value;
  if (!openId || !text.trim()) return;
  let job;
  try {
    job = await api("POST", "/api/chat", { conversationId: openId, messages: [{ role: "user", content: text }] });
  } catch (err) {
    flash(err.message, "error");
    return;
  }
  $("conv-prompt").value = "";
  $("conv-messages").append(message({ role: "user", content: text }));
  $("conv-output").hidden = false;
  $("conv-output").textContent = "";
  if (stream) stream.stop();
  const id = openId;
  stream = new JobStream(job.id, {
    onState: (state) => { $("conv-state").textContent = state; },
    onEvent: (_e, s) => { $("conv-output").textContent = s.text; },
    onEnd: () => {
      $("conv-output").hidden = true;
      if (openId === id) openConversation(id);
      loadList();
    },
  }).start();
}

export const conversations = {
  init() {
    $("conv-search").addEventListener("submit", (e) => {
      e.preventDefault();
      searchText = $("conv-query").value.trim();
      page = 1;
      loadList();
    });
    $("conv-clear").addEventListener("click", () => { $("conv-query").value = ""; searchText = ""; page = 1; loadList(); });
    $("conv-prev").addEventListener("click", () => { page = Math.max(1, page - 1); loadList(); });
    $("conv-next").addEventListener("click", () => { page = Math.min(totalPages, page + 1); loadList(); });
    $("conv-continue").addEventListener("submit", continueConversation);
  },
  show(id) {
    loadList();
    if (id) openConversation(id);
    else { openId = null; $("conv-detail").hidden = true; }
  },
  hide() {
    if (stream) stream.stop();
  },
};

// Rooms: join one over `/ws/room/<id>`, see who is online, chat, and send private messages to a member
// (over the personal socket `/ws`). Every received message is acknowledged by its server id; copies
// (replays, redeliveries, the same message on two sockets) are shown once and acknowledged again.
import { api, session, socketUrl } from "./api.js";
import { $, el, clear, flash, fmtTime } from "./dom.js";

let room = null; // { id, ws, left }
let personal = null;
const seen = new Set();
const pending = new Map(); // our messageId -> { content, to }
const names = new Map(); // user id -> username
let counter = 0;

function nameOf(userId) {
  if (session.user && userId === session.user.id) return "you";
  return names.get(userId) || userId;
}

function setState(text) {
  $("room-state").textContent = text;
  $("room-state").dataset.state = text;
}

/** Insert a message line in server-id order (a redelivered straggler lands where it belongs). */
function show(id, who, content, timestamp, extra = "") {
  const line = el("li", { "data-id": id, class: extra ? "private" : "" },
    el("span", { class: "meta" }, fmtTime(timestamp)), " ",
    el("strong", { class: "sender" }, who), extra ? el("span", { class: "meta" }, ` ${extra}`) : null, ": ",
    el("span", { class: "content" }, content));
  const list = $("room-messages");
  const after = [...list.children].find((node) => Number(node.dataset.id) > id);
  list.insertBefore(line, after || null);
  line.scrollIntoView({ block: "nearest" });
}

function receive(ws, frame) {
  if (frame.type === "chat_message" || frame.type === "private_message") {
    ws.send(JSON.stringify({ type: "ack", ids: [frame.id] }));
    if (seen.has(frame.id)) return;
    seen.add(frame.id);
    if (frame.type === "private_message") show(frame.id, nameOf(frame.from), frame.content, frame.timestamp, "(private)");
    else if (room && frame.roomId === room.id) show(frame.id, nameOf(frame.userId), frame.content, frame.timestamp);
  } else if (frame.type === "message_sent") {
    const mine = pending.get(frame.messageId);
    pending.delete(frame.messageId);
    if (!mine || seen.has(frame.id)) return;
    seen.add(frame.id);
    show(frame.id, "you", mine.content, frame.timestamp, mine.to ? `(private to ${nameOf(mine.to)})` : "");
  } else if (frame.type === "user_joined" || frame.type === "user_left") {
    if (room && frame.roomId === room.id) loadMembers();
  } else if (frame.type === "error") {
    flash(`${frame.code}: ${frame.message}`, "error");
  }
}

async function loadMembers() {
  if (!room) return;
  const id = room.id;
  let data;
  try {
    data = await api("GET", `/api/rooms/${encodeURIComponent(id)}/members`);
  } catch (err) {
    flash(err.message, "error");
    return;
  }
  if (!room || room.id !== id) return;
  const list = clear($("room-members"));
  const to = $("room-to");
  const chosen = to.value;
  clear(to).append(el("option", { value: "" }, "to the room"));
  for (const m of data.members) {
    names.set(m.userId, m.username);
    list.append(el("li", { "data-user": m.username, "data-online": m.online },
      el("span", { class: m.online ? "dot on" : "dot" }), ` ${m.username}`, m.online ? " (online)" : " (offline)"));
    if (!session.user || m.userId !== session.user.id) {
      to.append(el("option", { value: m.userId, selected: m.userId === chosen }, `private: ${m.username}`));
    }
  }
}

async function loadHistory(id) {
  try {
    const data = await api("GET", `/api/rooms/${encodeURIComponent(id)}/messages?page_size=50`);
    for (const m of data.messages || []) {
      if (seen.has(m.id)) continue;
      seen.add(m.id);
      show(m.id, nameOf(m.userId), m.content, m.timestamp);
    }
  } catch (err) {
    flash(err.message, "error");
  }
}

function openSocket(path, onOpen, onDrop) {
  const ws = new WebSocket(socketUrl(path));
  ws.onopen = onOpen;
  ws.onmessage = (m) => receive(ws, JSON.parse(m.data));
  ws.onclose = (e) => onDrop(ws, e);
  return ws;
}

function connectRoom(id) {
  setState("connecting");
  const current = { id, left: false, ws: null };
  room = current;
  current.ws = openSocket(`/ws/room/${encodeURIComponent(id)}`, async () => {
    setState("joined");
    await loadMembers();
    loadHistory(id);
  }, (_ws, event) => {
    if (room !== current || current.left) return;
    setState(`disconnected (${event.code}), retrying`);
    setTimeout(() => { if (room === current && !current.left) connectRoom(id); }, 1000);
  });
  $("room-name").textContent = `in ${id}`;
  $("room-leave").disabled = false;
}

function connectPersonal() {
  if (personal || !session.token) return;
  const mine = openSocket("/ws", null, () => {
    if (personal !== mine) return;
    personal = null;
    setTimeout(connectPersonal, 2000);
  });
  personal = mine;
}

function join(event) {
  event.preventDefault();
  const id = $("room-id").value.trim();
  if (!id || (room && room.id === id)) return;
  closeRoom();
  clear($("room-messages"));
  clear($("room-members"));
  connectRoom(id);
  connectPersonal();
}

function closeRoom(leave = false) {
  if (!room) return;
  room.left = true;
  if (leave && room.ws.readyState === WebSocket.OPEN) room.ws.send(JSON.stringify({ type: "leave" }));
  else room.ws.close(1000);
  room = null;
  setState(leave ? "left" : "");
  $("room-leave").disabled = true;
  $("room-name").textContent = "";
}

function send(event) {
  event.preventDefault();
  const content = $("room-text").value;
  const to = $("room-to").value;
  const ws = to ? personal : room && room.ws;
  if (!content || !ws || ws.readyState !== WebSocket.OPEN) {
    flash(room ? "Not connected yet." : "Join a room first.", "error");
    return;
  }
  counter += 1;
  const messageId = `console-${Date.now().toString(36)}-${counter}`;
  pending.set(messageId, { content, to });
  ws.send(JSON.stringify(to ? { type: "private", to, content, messageId }
    : { type: "chat", content, messageId }));
  $("room-text").value = "";
}

export const rooms = {
  init() {
    $("room-join").addEventListener("submit", join);
    $("room-leave").addEventListener("click", () => closeRoom(true));
    $("room-send").addEventListener("submit", send);
  },
  show() {
    connectPersonal();
    if (room) loadMembers();
  },
  reset() {
    closeRoom();
    const p = personal;
    personal = null;
    if (p) p.close(1000);
    seen.clear();
    pending.clear();
    clear($("room-messages"));
    clear($("room-members"));
  },
};

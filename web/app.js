// The chat page: one state object, network code in one place (api, streams, resume), DOM built with
// textContent only (model text can never become HTML).
const KEY_STORE = "assistant.functionKey";
const CHATS_STORE = "assistant.chats";
const apiBase = new URL("../", location.href); // the page lives at <prefix>/ui/, the API at <prefix>/

const state = { chats: [], current: null, running: null, skills: [] };
const $ = (id) => document.getElementById(id);

// ---- network ------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, message, body) { super(message); this.status = status; this.body = body || {}; }
}

async function api(path, { method = "GET", body, headers = {}, raw = false } = {}) {
  const key = sessionStorage.getItem(KEY_STORE);
  const init = { method, headers: { ...headers } };
  if (key) init.headers["x-functions-key"] = key;
  if (body !== undefined) { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
  let response;
  try {
    response = await fetch(new URL(path, apiBase), init);
  } catch (error) {
    throw new ApiError(0, "The app cannot be reached; check your connection and try again.");
  }
  if (raw && response.ok) return response;
  const text = await response.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch { data = { error: text }; }
  if (!response.ok) throw new ApiError(response.status, explain(response.status, data), data);
  return data;
}

function explain(status, data) {
  if (status === 401) return "The app needs a function key: enter it under \u201cFunction key\u201d.";
  if (status === 404) return data.error || "Not found: the chat may have been deleted elsewhere.";
  if (status === 503) return `The model is unavailable right now (${data.error || "try again"}).`;
  if (status === 502) return `The model failed: ${data.error || "try again"}.`;
  return data.error || `The request failed (HTTP ${status}).`;
}

// Reads a text/event-stream response; calls onEvent for each event; returns the last id seen.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (data) onEvent(JSON.parse(data));
    }
  }
}

// Follows a turn to its last event, resuming after a dropped connection from the last event seen.
async function followTurn(chatId, turnId, view, firstResponse) {
  let last = 0;
  let finished = false;
  const onEvent = (event) => {
    if (event.sequence <= last) return; // never twice
    last = event.sequence;
    view.apply(event);
    if (["turn.completed", "turn.failed", "turn.cancelled"].includes(event.type)) finished = true;
  };
  let response = firstResponse;
  for (let attempt = 0; !finished; attempt++) {
    try {
      if (!response) {
        response = await api(`chats/${encodeURIComponent(chatId)}/turns/${encodeURIComponent(turnId)}/events`,
          { headers: { Accept: "text/event-stream", "Last-Event-ID": String(last) }, raw: true });
      }
      await readEvents(response, onEvent);
      attempt = 0;
    } catch (error) {
      if (error instanceof ApiError && error.status && error.status !== 503) throw error;
    }
    response = null;
    if (!finished) { view.reconnecting(); await sleep(Math.min(250 * 2 ** attempt, 4000)); }
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- markdown, safely -----------------------------------------------------------------------
function renderMarkdown(target, text) {
  target.replaceChildren();
  const lines = text.split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.startsWith("```")) {
      const code = [];
      for (i++; i < lines.length && !lines[i].startsWith("```"); i++) code.push(lines[i]);
      i++;
      const pre = el("pre"); pre.append(el("code", code.join("\n"))); target.append(pre);
    } else if (/^\s*([-*]|\d+\.)\s+/.test(line)) {
      const ordered = /^\s*\d+\./.test(line);
      const list = el(ordered ? "ol" : "ul");
      for (; i < lines.length && /^\s*([-*]|\d+\.)\s+/.test(lines[i]); i++) {
        const item = el("li"); inline(item, lines[i].replace(/^\s*([-*]|\d+\.)\s+/, "")); list.append(item);
      }
      target.append(list);
    } else if (line.trim() === "") {
      i++;
    } else {
      const para = [];
      for (; i < lines.length && lines[i].trim() !== "" && !lines[i].startsWith("```") && !/^\s*([-*]|\d+\.)\s+/.test(lines[i]); i++) para.push(lines[i]);
      const p = el("p"); inline(p, para.join("\n")); target.append(p);
    }
  }
}

function inline(target, text) {
  const pattern = /(`[^`]+`|\*\*[^*]+\*\*|\*[^*]+\*)/g;
  let at = 0;
  for (const match of text.matchAll(pattern)) {
    target.append(document.createTextNode(text.slice(at, match.index)));
    const token = match[0];
    if (token.startsWith("`")) target.append(el("code", token.slice(1, -1)));
    else if (token.startsWith("**")) target.append(el("strong", token.slice(2, -2)));
    else target.append(el("em", token.slice(1, -1)));
    at = match.index + token.length;
  }
  target.append(document.createTextNode(text.slice(at)));
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

// ---- the conversation -------------------------------------------------------------------------
function addBubble(role, text) {
  const item = el("li", undefined, `msg ${role}`);
  item.append(el("span", role === "user" ? "You" : "Assistant", "who"));
  const body = el("div", undefined, "body");
  if (role === "user") body.textContent = text; else renderMarkdown(body, text || "");
  item.append(body);
  $("messages").append(item);
  item.scrollIntoView({ block: "end" });
  return { item, body };
}

function toolCard(call) {
  const card = el("details", undefined, "tool running");
  const summary = el("summary");
  summary.append(el("span", call.name, "tool-name"), el("span", "running\u2026", "tool-status"));
  card.append(summary, el("h4", "Arguments"), el("pre", call.arguments || "{}"));
  const item = el("li", undefined, "msg tool-call");
  item.append(card);
  $("messages").append(item);
  return card;
}

function finishCard(card, result) {
  card.classList.remove("running");
  card.classList.add(result.ok ? "ok" : "error");
  card.querySelector(".tool-status").textContent = result.ok ? "ok" : "error";
  card.append(el("h4", "Result"), el("pre", result.result ?? result.content ?? ""));
}

function approvalBox(chatId, turnId, calls) {
  const existing = document.querySelector(`.approval[data-turn="${CSS.escape(turnId)}"]`);
  if (existing) existing.remove();
  const item = el("li", undefined, "msg approval");
  item.dataset.turn = turnId;
  item.append(el("p", "The assistant wants to do this. Allow it?", "approval-title"));
  for (const call of calls) {
    const form = el("form", undefined, "decision");
    form.dataset.call = call.toolCallId;
    form.append(el("strong", call.name), el("pre", call.arguments));
    const reasonId = `reason-${call.toolCallId}`;
    const label = el("label", "Reason (optional)"); label.htmlFor = reasonId;
    const reason = el("input"); reason.id = reasonId; reason.name = "reason";
    const approve = el("button", "Approve"); approve.type = "button"; approve.className = "approve";
    const deny = el("button", "Deny"); deny.type = "button"; deny.className = "deny";
    const send = async (yes) => {
      approve.disabled = deny.disabled = true;
      try {
        await api(`chats/${encodeURIComponent(chatId)}/turns/${encodeURIComponent(turnId)}/approvals`,
          { method: "POST", body: { decisions: [{ toolCallId: call.toolCallId, approve: yes, reason: reason.value || undefined }] } });
        form.replaceChildren(el("p", `${call.name}: ${yes ? "approved" : "denied"}`));
      } catch (error) { notice(error.message); approve.disabled = deny.disabled = false; }
    };
    approve.addEventListener("click", () => send(true));
    deny.addEventListener("click", () => send(false));
    form.append(label, reason, approve, deny);
    item.append(form);
  }
  $("messages").append(item);
  item.scrollIntoView({ block: "end" });
}

// What one turn's events do to the page.
function turnView(chatId) {
  let bubble = null;
  let text = "";
  const cards = new Map();
  const thinking = addBubble("assistant", "");
  thinking.item.classList.add("thinking");
  thinking.body.textContent = "Thinking\u2026";
  const ensureBubble = () => {
    if (!bubble) { thinking.item.remove(); bubble = addBubble("assistant", ""); }
    return bubble;
  };
  return {
    apply(event) {
      switch (event.type) {
        case "turn.queued":
          thinking.body.textContent = event.position > 0 ? `Waiting for ${event.position} earlier message(s)\u2026` : "Thinking\u2026";
          break;
        case "turn.started": thinking.body.textContent = "Thinking\u2026"; break;
        case "message.delta":
          text += event.text; renderMarkdown(ensureBubble().body, text); bubble.item.scrollIntoView({ block: "end" }); break;
        case "message.reset": text = ""; if (bubble) renderMarkdown(bubble.body, ""); break;
        case "message.completed":
          if (event.toolCalls && event.toolCalls.length) {
            if (bubble && !text.trim()) bubble.item.remove();
            bubble = null; text = "";
            $("messages").append(thinking.item);
          }
          break;
        case "tool_call.started": cards.set(event.toolCallId, toolCard(event)); break;
        case "tool_call.completed": {
          const card = cards.get(event.toolCallId) || toolCard(event);
          finishCard(card, event); break;
        }
        case "approval.required": approvalBox(chatId, event.turnId, event.toolCalls); break;
        case "approval.decided": break;
        case "turn.completed":
          thinking.item.remove();
          if (!bubble) renderMarkdown(ensureBubble().body, event.reply);
          break;
        case "turn.failed":
          thinking.item.remove();
          notice(`The turn failed: ${event.error}.` + (event.recorded ? " The tool calls that ran are recorded." : ""),
            event.retryable ? () => retryLast(chatId) : null);
          break;
        case "turn.cancelled": thinking.item.remove(); addBubble("assistant", "(cancelled)").item.classList.add("cancelled"); break;
      }
    },
    reconnecting() { thinking.body.textContent = "Reconnecting\u2026"; },
  };
}

// ---- chats ---------------------------------------------------------------------------------------
function saveChats() { localStorage.setItem(CHATS_STORE, JSON.stringify(state.chats)); }

function renderChatList() {
  const list = $("chat-list");
  list.replaceChildren();
  for (const id of state.chats) {
    const item = el("li");
    const button = el("button", id); button.type = "button";
    if (id === state.current) button.setAttribute("aria-current", "true");
    button.addEventListener("click", () => openChat(id));
    item.append(button);
    list.append(item);
  }
}

async function openChat(id) {
  state.current = id;
  renderChatList();
  $("messages").replaceChildren();
  hideNotice();
  $("title").textContent = id;
  let chat;
  try { chat = await api(`chats/${encodeURIComponent(id)}`); } catch (error) { notice(error.message); return; }
  if (!chat.exists) {
    notice(`The chat \u201c${id}\u201d no longer exists (deleted elsewhere).`);
    state.chats = state.chats.filter((c) => c !== id); saveChats(); renderChatList();
    return;
  }
  $("chat-actions").hidden = false;
  enableComposer(true);
  const cards = new Map();
  for (const message of chat.recentMessages) {
    if (message.role === "user") addBubble("user", message.content);
    else if (message.role === "assistant") {
      if (message.content) addBubble("assistant", message.content);
      for (const call of message.toolCalls) cards.set(call.id, toolCard({ name: call.functionName, arguments: call.arguments }));
    } else if (message.role === "tool") {
      const card = cards.get(message.toolCallId);
      if (card) finishCard(card, { ok: !message.content.startsWith("error"), result: message.content });
    }
  }
  refreshTodos();
  const running = (chat.turns || [])[0];
  if (running) {
    if (chat.requiresAction) approvalBox(id, chat.requiresAction.turnId, chat.requiresAction.toolCalls);
    runTurn(id, running.turnId, null);
  }
}

async function refreshTodos() {
  const list = $("todo-list");
  if (!state.current) return;
  try {
    const todos = await api(`chats/${encodeURIComponent(state.current)}/todos`);
    list.replaceChildren(...todos.map((t) => {
      const item = el("li", t.taskDescription, t.done ? "done" : "");
      item.dataset.id = t.id;
      return item;
    }));
    if (!todos.length) list.replaceChildren(el("li", "No todos yet.", "empty"));
  } catch (error) { list.replaceChildren(el("li", "Todos unavailable.", "empty")); }
}

// ---- sending --------------------------------------------------------------------------------------
let lastMessage = null;

async function send(text) {
  const chatId = state.current;
  lastMessage = { chatId, text, key: crypto.randomUUID() };
  addBubble("user", text);
  await submit(lastMessage);
}

async function submit({ chatId, text, key }) {
  let response;
  try {
    response = await api(`chats/${encodeURIComponent(chatId)}`, {
      method: "POST", body: { message: text }, raw: true,
      headers: { Accept: "text/event-stream", "Idempotency-Key": key },
    });
  } catch (error) { notice(error.message, () => submit({ chatId, text, key })); return; }
  await runTurn(chatId, response.headers.get("X-Turn-Id"), response);
}

function retryLast(chatId) {
  if (lastMessage && lastMessage.chatId === chatId) submit(lastMessage);
}

async function runTurn(chatId, turnId, response) {
  state.running = turnId;
  $("cancel").hidden = false;
  enableComposer(false);
  try {
    await followTurn(chatId, turnId, turnView(chatId), response);
  } catch (error) {
    notice(error.message);
  } finally {
    if (state.running === turnId) state.running = null;
    $("cancel").hidden = true;
    enableComposer(true);
    refreshTodos();
  }
}

function enableComposer(on) {
  $("message").disabled = !on || !state.current;
  $("send").disabled = !on || !state.current;
  if (on && state.current) $("message").focus();
}

function notice(message, retry) {
  const box = $("notice");
  box.replaceChildren(el("span", message));
  if (retry) {
    const button = el("button", "Retry"); button.type = "button";
    button.addEventListener("click", () => { hideNotice(); retry(); });
    box.append(button);
  }
  box.hidden = false;
}

function hideNotice() { $("notice").hidden = true; }

// ---- wiring -------------------------------------------------------------------------------------------
async function loadSkills() {
  try { state.skills = await api("skills"); } catch { state.skills = []; }
  const box = $("new-chat-skills");
  for (const skill of state.skills) {
    const id = `skill-${skill.name}`;
    const label = el("label"); label.htmlFor = id;
    const box2 = el("input"); box2.type = "checkbox"; box2.id = id; box2.value = skill.name; box2.defaultChecked = true;
    label.append(box2, document.createTextNode(` ${skill.name}${skill.approval === "always" ? " (asks first)" : ""}`));
    box.append(label);
  }
}

function wire() {
  state.chats = JSON.parse(localStorage.getItem(CHATS_STORE) || "[]");
  renderChatList();
  $("new-chat").addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = $("new-chat-id").value.trim();
    const skills = [...document.querySelectorAll("#new-chat-skills input:checked")].map((b) => b.value);
    try {
      await api(`chats/${encodeURIComponent(id)}`, { method: "PUT", body: { instructions: $("new-chat-instructions").value || null, skills } });
    } catch (error) { notice(error.message); return; }
    if (!state.chats.includes(id)) state.chats.push(id);
    saveChats();
    $("new-chat").reset();
    openChat(id);
  });
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("message").value;
    if (!text.trim() || !state.current) return;
    $("message").value = "";
    send(text);
  });
  $("message").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("composer").requestSubmit(); }
  });
  $("cancel").addEventListener("click", async () => {
    if (!state.running) return;
    try { await api(`chats/${encodeURIComponent(state.current)}/turns/${encodeURIComponent(state.running)}/cancel`, { method: "POST" }); }
    catch (error) { notice(error.message); }
  });
  $("reset-chat").addEventListener("click", async () => {
    try { await api(`chats/${encodeURIComponent(state.current)}`, { method: "PUT", body: {} }); openChat(state.current); }
    catch (error) { notice(error.message); }
  });
  $("delete-chat").addEventListener("click", async () => {
    const id = state.current;
    try { await api(`chats/${encodeURIComponent(id)}`, { method: "DELETE" }); } catch (error) { notice(error.message); return; }
    state.chats = state.chats.filter((c) => c !== id); saveChats();
    state.current = null; $("messages").replaceChildren(); $("chat-actions").hidden = true; enableComposer(false);
    renderChatList();
  });
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORE, $("function-key").value);
    $("function-key").value = "";
    hideNotice();
    if (state.current) openChat(state.current);
  });
  for (const [button, panel] of [["toggle-chats", "chats"], ["toggle-todos", "todos"]]) {
    $(button).addEventListener("click", () => {
      const open = $(panel).classList.toggle("open");
      $(button).setAttribute("aria-expanded", String(open));
    });
  }
  loadSkills();
  const wanted = new URLSearchParams(location.search).get("chat");
  if (wanted && !state.chats.includes(wanted)) { state.chats.push(wanted); saveChats(); renderChatList(); }
  if (wanted || state.chats.length) openChat(wanted || state.chats[state.chats.length - 1]);
}

wire();

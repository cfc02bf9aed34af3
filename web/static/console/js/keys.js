// Keys: the user's provider keys (last 4 characters only) and, where the server has them, personal API keys.
import { api } from "./api.js";
import { $, el, clear, flash, fmtTime } from "./dom.js";

// What a personal API key listing may show: never a secret, whatever else the server sends.
const SAFE_FIELDS = ["name", "prefix", "last4", "apiKeyLast4", "createdAt", "lastUsedAt", "expiresAt"];

async function loadProviderKeys() {
  const list = clear($("pk-list"));
  let data;
  try {
    data = await api("GET", "/api/users/me/provider-keys");
  } catch (err) {
    flash(err.message, "error");
    return;
  }
  for (const key of data.providerKeys) {
    list.append(el("li", { "data-provider": key.provider },
      el("strong", {}, key.provider), ` …${key.apiKeyLast4} `,
      el("span", { class: "meta" }, `updated ${fmtTime(key.updatedAt)}`), " ",
      el("button", { type: "button", onclick: () => removeKey(key.provider) }, "Remove")));
  }
  if (!data.providerKeys.length) list.append(el("li", { class: "empty" }, "No provider keys stored: jobs use the server's keys."));
}

async function removeKey(provider) {
  try {
    await api("DELETE", `/api/users/me/provider-keys/${encodeURIComponent(provider)}`);
    flash(`Removed the ${provider} key.`);
  } catch (err) {
    flash(err.message, "error");
  }
  loadProviderKeys();
}

async function saveKey(event) {
  event.preventDefault();
  const provider = $("pk-provider").value;
  try {
    await api("PUT", `/api/users/me/provider-keys/${encodeURIComponent(provider)}`, { apiKey: $("pk-key").value });
    $("pk-key").value = "";
    flash(`Saved the ${provider} key.`);
  } catch (err) {
    flash(err.message, "error");
  }
  loadProviderKeys();
}

function keyItems(data) {
  const items = Array.isArray(data) ? data : (data.apiKeys || data.keys || data.data || []);
  return items.map((key) => el("li", {},
    SAFE_FIELDS.filter((f) => key[f] !== undefined && key[f] !== null)
      .map((f) => `${f}: ${f.endsWith("At") ? fmtTime(key[f]) : key[f]}`).join(" · ") || "(key)"));
}

async function loadApiKeys() {
  const panel = clear($("ak-panel"));
  try {
    const data = await api("GET", "/api/users/me/api-keys");
    const items = keyItems(data);
    panel.append(el("ul", { class: "items", id: "ak-list" }, items.length ? items : el("li", { class: "empty" }, "No personal API keys.")));
  } catch (err) {
    panel.append(el("p", { class: "hint", id: "ak-unavailable" }, "Personal API keys: not available on this server."));
  }
}

export const keys = {
  init() {
    $("pk-form").addEventListener("submit", saveKey);
  },
  show() {
    loadProviderKeys();
    loadApiKeys();
  },
};

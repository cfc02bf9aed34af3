// The console: sign in or register, then one view at a time chosen by the URL hash (#jobs/<id> …).
import { api, session } from "./api.js";
import { $, flash } from "./dom.js";
import { playground } from "./playground.js";
import { jobs } from "./jobs.js";
import { conversations } from "./conversations.js";
import { rooms } from "./rooms.js";
import { keys } from "./keys.js";

const VIEWS = { playground, jobs, conversations, rooms, keys };
let active = null;

function formData(form) {
  return Object.fromEntries(new FormData(form).entries());
}

async function signIn(event) {
  event.preventDefault();
  const { username, password } = formData(event.target);
  try {
    const data = await api("POST", "/api/auth/login", { username, password });
    event.target.reset();
    session.set(data.access_token, data.user, data.refresh_token);
  } catch (err) {
    flash(err.message, "error");
  }
}

async function register(event) {
  event.preventDefault();
  try {
    const data = await api("POST", "/api/auth/register", formData(event.target));
    event.target.reset();
    session.set(data.access_token, data.user, data.refresh_token);
    flash(`Welcome, ${data.user.username}.`);
  } catch (err) {
    flash(err.message, "error");
  }
}

async function signOut() {
  try {
    await api("POST", "/api/auth/logout", session.refreshToken ? { refresh_token: session.refreshToken } : undefined);
  } catch (err) {
    // the token may already be invalid: signing out locally is what matters
  }
  session.clear();
}

function route() {
  const signedIn = Boolean(session.token);
  $("nav").hidden = !signedIn;
  $("who").hidden = !signedIn;
  $("who-name").textContent = signedIn && session.user ? session.user.username : "";
  document.querySelectorAll(".view").forEach((v) => { v.hidden = true; });
  if (active && active.hide) active.hide();
  active = null;
  if (!signedIn) {
    $("view-auth").hidden = false;
    return;
  }
  const [name, ...rest] = decodeURIComponent(window.location.hash.slice(1)).split("/");
  const view = VIEWS[name] ? name : "playground";
  $(`view-${view}`).hidden = false;
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === view));
  active = VIEWS[view];
  Promise.resolve(active.show(rest.join("/") || null)).catch((err) => flash(err.message, "error"));
}

function onSessionChange() {
  if (!session.token) {
    for (const view of Object.values(VIEWS)) if (view.reset) view.reset();
  }
  route();
}

function links() {
  const body = document.body;
  $("link-metrics").hidden = body.dataset.metricsOpen !== "true";
  $("link-flower").href = `${window.location.protocol}//${window.location.hostname}:${body.dataset.flowerPort}/`;
}

function init() {
  for (const view of Object.values(VIEWS)) view.init();
  $("sign-in").addEventListener("submit", signIn);
  $("register").addEventListener("submit", register);
  $("sign-out").addEventListener("click", signOut);
  session.onChange(onSessionChange);
  window.addEventListener("hashchange", route);
  links();
  route();
  document.body.dataset.ready = "true";
}

init();

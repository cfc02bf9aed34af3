"""The console at `/` and the API reference at `/api/docs`, driven in a real headless Chromium against the
live stack (gunicorn + Celery worker): sign-up, streaming, cancel, resume after a dropped socket,
two people in a room, user text shown as text, and screenshots of every page."""
from __future__ import annotations

import re
import uuid

import httpx
import pytest

from tests.integration.browser_fixtures import browser, new_page, screenshot_dir  # noqa: F401 - fixtures
from tests.integration.conftest import STRONG_PASSWORD
from tests.support import wait_for

XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def sign_up(page, name: str | None = None) -> dict:
    """Register through the page's form; returns the user name and the token the page holds."""
    name = name or f"c{uuid.uuid4().hex[:10]}"
    page.goto("/")
    form = page.locator("#register")
    form.locator("[name=username]").fill(name)
    form.locator("[name=email]").fill(f"{name}@example.com")
    form.locator("[name=password]").fill(STRONG_PASSWORD)
    form.locator("button[type=submit]").click()
    page.locator("#nav").wait_for(state="visible")
    token = page.evaluate("sessionStorage.getItem('console.access_token')")
    assert token
    return {"name": name, "headers": {"Authorization": f"Bearer {token}"}}


def job_row(api: httpx.Client, headers: dict, job_id: str) -> dict:
    r = api.get(f"/api/jobs/{job_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def submit_prompt(page, prompt: str) -> str:
    page.goto("/#playground")
    page.locator("#pg-provider option[value=demo]").wait_for(state="attached")
    page.select_option("#pg-provider", "demo")
    page.fill("#pg-prompt", prompt)
    page.click("#pg-submit")
    link = page.locator("#pg-job-link")
    wait_for(lambda: link.text_content(), what="a job id on the page")
    return link.text_content()


def wait_state(page, selector: str, state: str, timeout: float = 30_000) -> None:
    page.wait_for_function("([s, v]) => document.querySelector(s).dataset.state === v", arg=[selector, state],
                           timeout=timeout)


# ------------------------------------------------------------------ pages over plain HTTP

def test_pages_are_served_with_a_strict_policy_of_their_own(api):
    for path in ("/", "/api/docs"):
        r = api.get(path)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        host = api.base_url.host + ":" + str(api.base_url.port)
        assert f"connect-src 'self' ws://{host} wss://{host};" in csp
        # no inline script: every <script> element loads a file of ours
        for tag in re.findall(r"<script\b[^>]*>", r.text):
            assert re.search(r'src="/[^"/]', tag), tag
        assert "http://" not in r.text and "https://" not in r.text  # nothing from elsewhere
    js = api.get("/console/js/main.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert api.get("/api/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert api.get("/api/docs/assets/index.html").status_code == 404
    assert api.get("/api/docs/assets/..%2Fsettings.py").status_code == 404
    # the API keeps its own policy
    assert api.get("/healthz").headers["Content-Security-Policy"].startswith("default-src 'none'; frame-ancestors")
    # pages and assets are not API calls: they spend none of the client's API budget
    assert "X-RateLimit-Limit" in api.get("/api/openapi.json").headers
    assert "X-RateLimit-Limit" not in js.headers and "X-RateLimit-Limit" not in api.get("/").headers


def test_no_script_of_the_console_uses_html_sinks_or_eval():
    from pathlib import Path

    from tests.support import ROOT

    sources = list((ROOT / "web" / "static" / "console" / "js").glob("*.js"))
    assert len(sources) >= 8
    for path in sources:
        text = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in text, f"{sink} in {path.name}"
    assert Path(ROOT / "web" / "templates" / "console" / "index.html").exists()


# ------------------------------------------------------------------ in the browser

def test_sign_up_stream_a_job_and_see_the_stored_result(new_page, api, worker, screenshot_dir):
    page = new_page()
    page.goto("/")
    page.screenshot(path=str(screenshot_dir / "console-sign-in.png"))
    user = sign_up(page)
    assert page.locator("#who-name").text_content() == user["name"]
    page.fill("#pg-system", "Answer like a pirate.")
    job_id = submit_prompt(page, "Tell me a story [demo:tokens=60]")
    wait_state(page, "#pg-state", "completed")
    shown = page.locator("#pg-output").text_content()
    job = job_row(api, user["headers"], job_id)
    assert job["status"] == "succeeded"
    assert shown == job["result"]["content"] and shown
    wait_for(lambda: "tokens in" in page.locator("#pg-meta").text_content(), what="usage on the page")
    assert f"out {job['result']['usage']['output_tokens']}" in page.locator("#pg-meta").text_content()
    page.screenshot(path=str(screenshot_dir / "console-playground.png"))

    # signing out forgets the token and revokes it
    page.click("#sign-out")
    page.locator("#view-auth").wait_for(state="visible")
    assert page.evaluate("sessionStorage.getItem('console.access_token')") is None
    assert api.get("/api/auth/me", headers=user["headers"]).status_code == 401
    assert page.context.cookies() == []  # the token never lives in a cookie


def test_cancel_stops_a_running_stream(new_page, api, worker):
    page = new_page()
    user = sign_up(page)
    job_id = submit_prompt(page, "A long one [demo:tokens=5000]")
    wait_for(lambda: len(page.locator("#pg-output").text_content()) > 20, what="tokens on the page")
    page.click("#pg-cancel")
    wait_state(page, "#pg-state", "cancelled")
    job = job_row(api, user["headers"], job_id)
    assert job["status"] == "cancelled"
    partial = page.locator("#pg-output").text_content()
    assert 0 < len(partial)
    assert job["result"] is None or job["result"]["content"].startswith(partial[:20])


def test_a_dropped_socket_resumes_from_the_last_seq_without_gap_or_repeat(new_page, api, worker):
    page = new_page()
    user = sign_up(page)
    urls: list[str] = []
    sockets = []

    def proxy(ws) -> None:  # the page's job socket goes through us, so the test can cut it
        urls.append(ws.url)
        sockets.append(ws)
        ws.connect_to_server()

    page.route_web_socket(re.compile(r".*/ws/jobs/.*"), proxy)
    job_id = submit_prompt(page, "Keep going [demo:tokens=600]")
    wait_for(lambda: len(page.locator("#pg-output").text_content()) > 30, what="tokens before the drop")
    sockets[0].close(code=4001, reason="network drop")
    wait_state(page, "#pg-state", "completed", timeout=60_000)
    assert len(urls) >= 2
    after = int(re.search(r"[?&]after=(\d+)", urls[1]).group(1))
    assert after > 0, urls  # resumed from the last seq seen, not replayed from the start
    job = job_row(api, user["headers"], job_id)
    assert job["status"] == "succeeded"
    assert page.locator("#pg-output").text_content() == job["result"]["content"]
    # The page fills in the job's summary after the terminal event, from one more request.
    wait_for(lambda: "resumed 1×" in page.locator("#pg-meta").text_content(), what="the summary with the resume")


def test_jobs_list_filters_and_shows_one_job(new_page, api, worker, screenshot_dir):
    page = new_page()
    user = sign_up(page)
    ok = api.post("/api/chat", headers=user["headers"], json={
        "messages": [{"role": "user", "content": "hello [demo:tokens=20]"}], "provider": "demo"}).json()
    bad = api.post("/api/chat", headers=user["headers"], json={
        "messages": [{"role": "user", "content": "[demo:fail]"}], "provider": "demo"}).json()
    wait_for(lambda: job_row(api, user["headers"], ok["id"])["status"] == "succeeded", what="job done")
    wait_for(lambda: job_row(api, user["headers"], bad["id"])["status"] == "failed", what="job failed")
    page.goto("/#jobs")
    rows = page.locator("#jobs-table tbody tr[data-job]")
    wait_for(lambda: rows.count() == 2, what="two jobs listed")
    page.select_option("#jobs-status", "failed")
    wait_for(lambda: rows.count() == 1 and rows.first.get_attribute("data-job") == bad["id"], what="filtered")
    page.select_option("#jobs-status", "")
    wait_for(lambda: rows.count() == 2, what="both again")
    page.click(f"tr[data-job='{ok['id']}'] a")
    page.locator("#jd-events li[data-type=completed]").wait_for()
    stored = job_row(api, user["headers"], ok["id"])
    assert page.locator("#jd-result").text_content() == stored["result"]["content"]
    assert page.locator("#jd-events li[data-type=token]").count() == 20
    assert "attempts 1" in page.locator("#jd-meta").text_content()
    page.screenshot(path=str(screenshot_dir / "console-jobs.png"), full_page=True)
    page.click(f"tr[data-job='{bad['id']}'] a")
    page.locator("#jd-error").wait_for()
    error = job_row(api, user["headers"], bad["id"])["error"]
    assert page.locator("#jd-error").text_content() == f"{error['code']}: {error['message']}"
    assert page.locator("#jd-status").text_content() == "failed"


def test_jobs_list_updates_live_while_a_job_runs(new_page, api, worker):
    page = new_page()
    user = sign_up(page)
    page.goto("/#jobs")
    page.locator("#jobs-table tbody td.empty").wait_for()
    job = api.post("/api/chat", headers=user["headers"], json={
        "messages": [{"role": "user", "content": "[demo:tokens=400]"}], "provider": "demo"}).json()
    page.select_option("#jobs-status", "")  # one refresh by hand: from then on the page follows by itself
    row = page.locator(f"tr[data-job='{job['id']}']")
    row.wait_for()
    page.wait_for_function("(id) => document.querySelector(`tr[data-job='${id}']`).dataset.status === 'succeeded'",
                           arg=job["id"], timeout=30_000)


def test_conversations_search_open_continue_and_titles_are_text(new_page, api, worker, screenshot_dir):
    page = new_page()
    user = sign_up(page)
    h = user["headers"]
    conv = api.post("/api/conversations", headers=h, json={
        "title": XSS, "systemPrompt": "Be brief.", "messages": [{"role": "user", "content": "first " + XSS}]}).json()
    api.post("/api/conversations", headers=h, json={"title": "Groceries", "messages": []})
    page.goto("/#conversations")
    items = page.locator("#conv-list li[data-conversation]")
    wait_for(lambda: items.count() == 2, what="two conversations")
    assert page.locator(f"li[data-conversation='{conv['id']}'] .title").text_content() == XSS
    page.fill("#conv-query", "grocer")
    page.click("#conv-search button[type=submit]")
    wait_for(lambda: items.count() == 1 and "Groceries" in items.first.text_content(), what="search result")
    page.click("#conv-clear")
    wait_for(lambda: items.count() == 2, what="all again")
    page.click(f"li[data-conversation='{conv['id']}'] .title")
    page.locator("#conv-messages li").first.wait_for()
    assert page.locator("#conv-title").text_content() == XSS
    page.fill("#conv-prompt", "and then? [demo:tokens=15]")
    page.click("#conv-continue button[type=submit]")
    wait_for(lambda: page.locator("#conv-messages li.assistant").count() == 1, what="the answer stored and shown")
    stored = api.get(f"/api/conversations/{conv['id']}", headers=h).json()["messages"]
    assert [m["role"] for m in stored] == ["user", "user", "assistant"]
    assert page.locator("#conv-messages li.assistant .content").text_content() == stored[-1]["content"]
    assert page.evaluate("window.__xss") is None
    assert page.locator("#view-conversations img, #view-conversations script").count() == 0
    page.screenshot(path=str(screenshot_dir / "console-conversations.png"), full_page=True)


def test_two_people_chat_in_a_room_with_acks_and_private_messages(new_page, api, screenshot_dir):
    room = f"r{uuid.uuid4().hex[:8]}"
    ada_page, bob_page = new_page(), new_page()
    ada, bob = sign_up(ada_page), sign_up(bob_page)
    for page in (ada_page, bob_page):
        page.goto("/#rooms")
        page.fill("#room-id", room)
        page.click("#room-join button[type=submit]")
        wait_state(page, "#room-state", "joined")
    for page in (ada_page, bob_page):  # each sees both members online
        for name in (ada["name"], bob["name"]):
            page.wait_for_selector(f"#room-members li[data-user='{name}'][data-online='true']")

    ada_page.fill("#room-text", "hello bob")
    ada_page.click("#room-send button[type=submit]")
    bob_page.wait_for_selector("#room-messages li:has-text('hello bob')")
    ada_page.wait_for_selector("#room-messages li:has-text('hello bob')")  # the sender's own line

    bob_page.fill("#room-text", XSS)
    bob_page.click("#room-send button[type=submit]")
    line = ada_page.locator("#room-messages li .content", has_text="onerror")
    line.wait_for()
    assert line.text_content() == XSS
    assert ada_page.evaluate("window.__xss") is None
    assert ada_page.locator("#room-messages img, #room-messages script").count() == 0

    bob_id = api.get("/api/auth/me", headers=bob["headers"]).json()["id"]
    ada_page.select_option("#room-to", bob_id)
    ada_page.fill("#room-text", "just between us")
    ada_page.click("#room-send button[type=submit]")
    private = bob_page.locator("#room-messages li.private", has_text="just between us")
    private.wait_for()
    assert ada["name"] in private.text_content()

    def all_acked(user: dict) -> bool:  # the pages acknowledged everything they received
        r = api.get("/api/deliveries?role=recipient&state=pending", headers=user["headers"])
        return r.status_code == 200 and not r.json()["deliveries"]

    wait_for(lambda: all_acked(ada) and all_acked(bob), what="every delivery acknowledged by the pages")
    delivered = api.get("/api/deliveries?role=recipient&state=delivered", headers=bob["headers"]).json()
    assert len(delivered["deliveries"]) == 2  # the room message and the private one
    ada_page.screenshot(path=str(screenshot_dir / "console-rooms.png"))

    bob_page.click("#room-leave")
    # leaving ends the membership: bob's user_left reaches ada's page, which drops him from the list
    ada_page.wait_for_selector(f"#room-members li[data-user='{bob['name']}']", state="detached")
    wait_state(bob_page, "#room-state", "left")


def test_keys_show_only_the_last_four_characters(new_page, api, screenshot_dir):
    page = new_page()
    user = sign_up(page)
    page.goto("/#keys")
    page.locator("#pk-list li.empty").wait_for()
    page.select_option("#pk-provider", "anthropic")
    page.fill("#pk-key", "sk-ant-secret-WXYZ")
    page.click("#pk-form button[type=submit]")
    item = page.locator("#pk-list li[data-provider=anthropic]")
    item.wait_for()
    assert "…WXYZ" in item.text_content()
    page.screenshot(path=str(screenshot_dir / "console-keys.png"))
    assert "secret" not in page.locator("#view-keys").text_content()
    stored = api.get("/api/users/me/provider-keys", headers=user["headers"]).json()["providerKeys"]
    assert [k["apiKeyLast4"] for k in stored] == ["WXYZ"]
    personal = api.get("/api/users/me/api-keys", headers=user["headers"])
    if personal.status_code == 200:
        page.locator("#ak-list").wait_for()
    else:
        assert "not available" in page.locator("#ak-unavailable").text_content()
    item.locator("button").click()
    page.locator("#pk-list li.empty").wait_for()
    assert api.get("/api/users/me/provider-keys", headers=user["headers"]).json()["providerKeys"] == []


def test_a_refused_access_token_is_renewed_once_then_the_session_ends(new_page, api):
    page = new_page()
    sign_up(page)
    page.evaluate("sessionStorage.setItem('console.access_token', 'not-a-valid-token')")
    page.goto("/#keys")
    page.locator("#pk-list li.empty").wait_for()  # answered after a refresh, still signed in
    token = page.evaluate("sessionStorage.getItem('console.access_token')")
    assert token != "not-a-valid-token"
    assert api.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    page.evaluate("sessionStorage.setItem('console.access_token', 'x'); sessionStorage.setItem('console.refresh_token', 'y')")
    page.goto("/#jobs")
    page.locator("#view-auth").wait_for(state="visible")  # nothing to renew with: signed out
    assert page.evaluate("sessionStorage.getItem('console.access_token')") is None


def test_api_reference_renders_our_document(new_page, screenshot_dir):
    page = new_page()
    page.goto("/api/docs")
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() >= 30
    assert "AI Chat Studio Backend" in page.locator(".info .title").text_content()
    assert page.locator(".btn.authorize.unlocked").count() == 1
    page.screenshot(path=str(screenshot_dir / "api-docs.png"))


def test_api_reference_uses_the_consoles_token(new_page):
    page = new_page()
    sign_up(page)
    page.goto("/api/docs")
    page.locator(".btn.authorize.locked").wait_for()  # authorized with the token the console holds


def test_console_fits_a_narrow_window_and_shows_its_links(new_page, worker, screenshot_dir):
    page = new_page(width=390)
    sign_up(page)
    submit_prompt(page, "short [demo:tokens=12]")
    wait_state(page, "#pg-state", "completed")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{overflow}px wider than the window"
    assert page.locator("a[href='/api/docs']").is_visible()
    assert page.locator("#link-metrics").is_visible()  # /metrics is open in the test stack
    flower = page.locator("#link-flower").get_attribute("href")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", flower)
    page.screenshot(path=str(screenshot_dir / "console-narrow.png"), full_page=True)

"""The console for people (`/`) and the interactive API reference (`/api/docs`).

Plain HTML, CSS and JavaScript modules from `web/static/console`, no build step; Swagger UI comes from
the `swagger-ui-bundle-v2` wheel, so nothing is fetched from the internet at run time. These pages get
their own Content-Security-Policy (own scripts, styles and sockets only, no inline script, no eval);
every other response keeps the API's `default-src 'none'` from `web.hardening`.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, render_template, request, send_from_directory

from extensions.ext_settings import settings as settings_of
from web.errors import not_found

bp = Blueprint("console", __name__, static_folder="static/console", static_url_path="/console",
               template_folder="templates")

# Swagger UI's stylesheet draws its icons as `data:` SVG images; nothing else needs more than 'self'.
_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
           "connect-src 'self' ws://{host} wss://{host}; frame-ancestors 'none'; base-uri 'none'; "
           "form-action 'none'")
SWAGGER_FILES = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"})


def console_policy(host: str) -> str:
    """The CSP of the console pages: `connect-src` names the page's own host for its WebSockets."""
    return _POLICY.format(host=host)


@bp.after_request
def _page_headers(response: Response) -> Response:
    # Runs before the app-wide hook in web.hardening, whose setdefault then keeps this policy.
    response.headers["Content-Security-Policy"] = console_policy(request.host)
    if request.endpoint in ("console.static", "console.swagger_asset"):
        response.headers["Cache-Control"] = "no-cache"  # revalidate by ETag: assets carry no user data
    return response


@bp.get("/")
def index():
    settings = settings_of()
    return render_template("console/index.html", metrics_open=not settings.metrics_token,
                           flower_port=settings.flower_port)


@bp.get("/api/docs")
def api_docs():
    return render_template("console/docs.html")


@bp.get("/api/docs/assets/<name>")
def swagger_asset(name: str):
    if name not in SWAGGER_FILES:
        raise not_found("asset")
    from swagger_ui_bundle import swagger_ui_path

    return send_from_directory(Path(str(swagger_ui_path)), name)

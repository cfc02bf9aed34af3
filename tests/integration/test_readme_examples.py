"""The README runs as written: its curl examples, from "Using the API" through the provider keys, run in
order with bash against a live stack (web server and worker), and every request answers 2xx."""
from __future__ import annotations

import re
import shutil
import subprocess

import httpx
import pytest

from tests.support import ROOT

FIRST, LAST = "## Using the API", "### Hardening"  # the sections whose examples run against a server


def readme_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    part = readme[readme.index(FIRST):readme.index(LAST)]
    return re.findall(r"```bash\n(.*?)```", part, flags=re.S)


# Every curl fails the script on a 4xx/5xx (--fail-with-body, set -e, pipefail) and reports its status.
PRELUDE = r"""set -euo pipefail
curl() { command curl --fail-with-body --max-time 60 -w '%{stderr}STATUS %{http_code} %{method} %{url_effective}\n' "$@"; }
"""


def test_readme_examples_run_in_order(live_server, worker, tmp_path):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    blocks = readme_blocks()
    assert len(blocks) >= 4 and "API=http://127.0.0.1:8000" in blocks[0]
    script = "\n".join(blocks).replace("API=http://127.0.0.1:8000", f"API={live_server}", 1)
    assert "<" not in re.sub(r"<last seq>", "", "\n".join(
        line for line in script.splitlines() if not line.lstrip().startswith("#"))), "a placeholder would not run"
    out = subprocess.run(["bash", "-c", PRELUDE + script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    statuses = re.findall(r"^STATUS (\d+) (\S+) (\S+)$", out.stderr, flags=re.M)
    assert out.returncode == 0, f"stopped after {statuses[-1:]}:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    assert len(statuses) == sum(len(re.findall(r"(?:^|\$\()\s*curl ", b, flags=re.M)) for b in blocks), statuses
    assert all(code.startswith("2") for code, _, _ in statuses), statuses
    by_call = {(method, url.split("?")[0].replace(live_server, "")): int(code) for code, method, url in statuses}
    assert by_call[("POST", "/api/auth/register")] == 201
    assert by_call[("POST", "/api/conversations/batch")] == 201  # no longer re-creates conv_1 (409)
    assert by_call[("POST", "/api/chat")] == 202
    search = re.search(r'\{"query".*?"count": ?(\d+)', out.stdout)
    assert search and int(search.group(1)) >= 1, "the search example finds nothing"
    assert (tmp_path / "mine.ndjson").stat().st_size > 0


def test_the_printed_api_address_answers(live_server):
    r = httpx.get(live_server + "/api")
    assert r.status_code == 200
    links = r.json()["links"]
    assert httpx.get(live_server + links["openapi"]).status_code == 200

"""The LiteLLM proxy as a peer path for bench_jobs.py: one process in front of the same fake vendor.

It runs from its own venv (`bench/requirements-peer.txt`), found at `bench/.venv-peer` or through
`--litellm PATH` (the `litellm` executable). The cost map is read from the package, not fetched,
and telemetry is off: the proxy talks to loopback only.
"""
from __future__ import annotations

import secrets
import subprocess
import tempfile
from pathlib import Path

from tests.support import free_port, wait_http_ok

DEFAULT_EXECUTABLE = Path(__file__).resolve().parent / ".venv-peer" / "bin" / "litellm"
CONFIG = """model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {vendor}
      api_key: bench
litellm_settings:
  telemetry: false
"""


class LiteLLMProxy:
    """Started on enter, stopped on exit; `url` is its OpenAI base URL, `key` its master key."""

    def __init__(self, executable: Path, vendor_v1: str) -> None:
        self.executable, self.vendor_v1 = executable, vendor_v1
        self.key = "sk-bench-" + secrets.token_hex(16)
        self.url, self.proc = "", None
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-litellm-"))

    def __enter__(self) -> "LiteLLMProxy":
        (self.workdir / "config.yaml").write_text(CONFIG.format(vendor=self.vendor_v1))
        port = free_port()
        env = {"LITELLM_MASTER_KEY": self.key, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PATH": "/usr/bin:/bin",
               "HOME": str(self.workdir)}
        self.proc = subprocess.Popen(
            [str(self.executable), "--config", "config.yaml", "--host", "127.0.0.1", "--port", str(port),
             "--num_workers", "1"], cwd=self.workdir, env=env,
            stdout=(self.workdir / "proxy.log").open("w"), stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"
        wait_http_ok(self.url + "/health/liveliness", timeout=120)
        self.url += "/v1"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(20)

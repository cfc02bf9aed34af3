"""The official Node SDK (`openai` on npm) streams a chat completion from `/v1`.

The package is installed into a temporary directory for the run (nothing is committed); the test
is skipped, saying why, where Node or npm is missing or the package cannot be installed.
"""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.integration.v1_fixtures import tokens, v1_user

pytestmark = pytest.mark.usefixtures("worker")
NODE_SDK = "openai@7.59.0"

SCRIPT = """
import OpenAI from "openai";
const client = new OpenAI({ baseURL: process.argv[2], apiKey: process.argv[3], maxRetries: 0 });
const stream = await client.chat.completions.create({
  model: "demo/demo-1", stream: true, stream_options: { include_usage: true },
  messages: [{ role: "user", content: "[demo:tokens=9] from node" }],
});
let text = "", usage = null, finish = null;
for await (const chunk of stream) {
  if (chunk.choices.length) { text += chunk.choices[0].delta.content ?? ""; finish = chunk.choices[0].finish_reason ?? finish; }
  if (chunk.usage) usage = chunk.usage;
}
let status = null;
try { await client.models.retrieve("nobody/nothing"); } catch (e) { status = e.constructor.name + ":" + e.status; }
console.log(JSON.stringify({ text, usage, finish, status }));
"""


@pytest.fixture(scope="module")
def node_project(tmp_path_factory):
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("Node.js and npm are not installed: the Node SDK test needs them")
    root = tmp_path_factory.mktemp("node-openai")
    (root / "package.json").write_text(json.dumps({"private": True, "type": "module"}))
    proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error", NODE_SDK], cwd=root,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.skip(f"npm could not install {NODE_SDK}: {proc.stderr[-500:]}")
    (root / "stream.mjs").write_text(SCRIPT)
    return node, root


def test_node_sdk_streams_a_chat_completion(api, live_server, node_project):
    node, root = node_project
    key = v1_user(api)["key"]
    proc = subprocess.run([node, "stream.mjs", live_server + "/v1", key], cwd=root, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["text"] == tokens(9) and out["finish"] == "stop"
    assert out["usage"]["completion_tokens"] == 9
    assert out["status"] == "NotFoundError:404"

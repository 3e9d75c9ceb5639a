"""The interactive path the README promises: JupyterLab as `make lab` starts it, a kernel, the trace browser.

The server is started headless with a token, its contents API must list the six notebooks, and a
kernel started through its REST API executes a notebook's own cells (parameters, set-up, trace
browser) over the kernel websocket, as the Lab front end would. The browser cell must answer with
the interactive widget, not the static page Papermill runs get.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import nbformat
import pytest

from r1lib.app.reproduce import NOTEBOOKS, NOTEBOOKS_DIR
from r1lib.app.run import Run
from r1lib.testing import free_port

pytestmark = pytest.mark.slow
WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def lab() -> Iterator[tuple[str, str]]:
    """A JupyterLab server on the notebooks folder (as `make lab` starts it), headless, with a token."""
    token, port = secrets.token_hex(16), free_port()
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", str(NOTEBOOKS_DIR)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert server.poll() is None, f"jupyter lab exited: {server.stderr.read()[-2000:]}"
            try:
                if httpx.get(f"{url}/api/status", params={"token": token}, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail("jupyter lab did not answer within 120 s")
        yield url, token
    finally:
        server.terminate()
        server.wait(timeout=30)


def execute(url: str, token: str, kernel_id: str, code: str) -> list[dict]:
    """Run ``code`` in the kernel over its websocket; returns the iopub messages until the kernel is idle."""
    from tornado.websocket import websocket_connect

    async def run() -> list[dict]:
        socket = await websocket_connect(f"{url.replace('http', 'ws')}/api/kernels/{kernel_id}/channels?token={token}")
        msg_id = uuid.uuid4().hex
        await socket.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": uuid.uuid4().hex,
                       "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        replies: list[dict] = []
        while True:
            message = json.loads(await asyncio.wait_for(socket.read_message(), timeout=300))
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            replies.append(message)
            if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                socket.close()
                return replies

    return asyncio.run(run())


def test_lab_lists_the_notebooks_and_runs_the_trace_browser_in_a_kernel(lab: tuple[str, str], tmp_path: Path) -> None:
    url, token = lab
    auth = {"Authorization": f"token {token}"}
    assert httpx.get(f"{url}/api/contents", timeout=10).status_code == 403  # the token is required
    listed = httpx.get(f"{url}/api/contents", headers=auth, timeout=10).json()["content"]
    assert sorted(item["name"] for item in listed if item["type"] == "notebook") == [f"{n}.ipynb" for n in NOTEBOOKS]

    store = tmp_path / "store.sqlite"
    Run.open("ci", limit=3, store=store, progress=False).evaluate("prompt-injection")
    notebook = nbformat.read(NOTEBOOKS_DIR / "02_attacks.ipynb", as_version=4)
    setup = next(c.source for c in notebook.cells if "Run.open(" in c.source)
    browser = next(c.source for c in notebook.cells if "browse(" in c.source)
    parameters = (f"profile, models, limit, seed, store = 'ci', None, 3, None, {str(store)!r}\n"
                  f"tables_dir, figures_dir, status_file = {str(tmp_path / 't')!r}, {str(tmp_path / 'f')!r}, None\n"
                  "interactive = True")

    kernel = httpx.post(f"{url}/api/kernels", headers=auth, json={"name": "python3"}, timeout=30).json()
    try:
        for code in (parameters, setup):
            errors = [m["content"] for m in execute(url, token, kernel["id"], code) if m["msg_type"] == "error"]
            assert not errors, errors
        shown = execute(url, token, kernel["id"], browser)
        assert not [m for m in shown if m["msg_type"] == "error"], shown
        outputs = [m["content"]["data"] for m in shown if m["msg_type"] in ("display_data", "execute_result")]
        assert any(WIDGET in data for data in outputs), "the trace browser did not answer with its widget"
        states = {st.get("description"): st for st in (m["content"]["data"]["state"] for m in shown
                                                        if m["msg_type"] == "comm_open")}
        assert states["model"]["_options_labels"] == ["(any)", *sorted(Run.open("ci").profile.models)]
        assert states["benchmark"]["_options_labels"] == ["(any)", "prompt-injection"]
        updates = [m["content"]["data"]["state"] for m in shown if m["msg_type"] == "comm_msg"]
        assert {"max": 2} in updates  # 15 records (3 prompts × 5 models), 5 per page: pages 0-2
        (page,) = [u["value"] for u in updates if "r1-trace" in str(u.get("value", ""))]
        assert page.count('class="r1-trace"') == 5
    finally:
        httpx.delete(f"{url}/api/kernels/{kernel['id']}", headers=auth, timeout=30)

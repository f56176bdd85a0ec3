"""`tanuki serve` as a user runs it: a real process, keys from `tanuki keys`, JSON logs without secrets, and a
graceful SIGTERM that lets an open stream finish."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from tanuki_ollama.ollama_server import free_port
from tanuki_ollama.server.runner import wait_ready

REPO = Path(__file__).resolve().parents[2]
ANSWER = " ".join(f"word{i}" for i in range(30))


def tanuki(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tanuki_ollama", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=True)


def test_serve_process_logs_no_secrets_and_drains_streams_on_sigterm(tmp_path):
    env = {**os.environ, "TANUKI_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    store = f"sqlite:///{tmp_path / 'server.db'}"
    secret = json.loads(tanuki("keys", "create", "ci", "--scope", "chat", "--store", store, "--json", env=env).stdout)[
        "secret"]
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tanuki_ollama", "serve", "--port", str(port), "--auth", "--store", store,
         "--engine", "tests.server.helpers:PacedEngine", "--engine-opt", f'responses=["{ANSWER}"]',
         "--engine-opt", "delay_s=0.05"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, timeout=30)
        headers = {"Authorization": f"Bearer {secret}"}
        bad = httpx.post(f"{url}/api/chat", headers={"Authorization": f"Bearer {secret}x"},
                         json={"model": "paced", "messages": [{"role": "user", "content": "hi"}]})
        assert bad.status_code == 401
        lines: list[dict] = []
        first_chunk = threading.Event()

        def stream() -> None:
            body = {"model": "paced", "messages": [{"role": "user", "content": "a long answer please"}]}
            with httpx.stream("POST", f"{url}/api/chat", json=body, headers=headers, timeout=30) as r:
                for line in r.iter_lines():
                    if line:
                        lines.append(json.loads(line))
                        first_chunk.set()

        reader = threading.Thread(target=stream)
        reader.start()
        assert first_chunk.wait(15)
        proc.send_signal(signal.SIGTERM)  # mid-stream
        reader.join(30)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    _, err = proc.communicate(timeout=10)
    assert lines[-1]["done"] is True and "".join(x["message"]["content"] for x in lines) == ANSWER
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    requests = [r for r in records if r["msg"] == "request"]
    assert {r["status"] for r in requests} >= {401, 200}
    assert any(r["key_id"] != "-" and r["key_id"] in secret for r in requests)  # who, by key id
    assert secret not in err and secret.rsplit("_", 1)[-1] not in err

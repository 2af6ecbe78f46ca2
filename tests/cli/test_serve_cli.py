"""``patron serve`` as a user runs it: a real process on a real port, with several workers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(database_url: str, *args: str, secret: str | None) -> subprocess.Popen[str]:
    env = os.environ | {"PATRON_DATABASE_URL": database_url, "PATRON_ENVIRONMENT": "development"}
    env.pop("PATRON_SECRET_KEY", None)
    if secret is not None:
        env["PATRON_SECRET_KEY"] = secret
    return subprocess.Popen(
        [str(BIN / "patron"), "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_serve_refuses_the_default_secret_key(sqlite_url: str) -> None:
    process = _serve(sqlite_url, "--port", str(_free_port()), secret=None)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "config.default_secret" in output
    assert "PATRON_SECRET_KEY" in output


def test_serve_runs_several_worker_processes(sqlite_url: str) -> None:
    port = _free_port()
    process = _serve(
        sqlite_url, "--port", str(port), "--workers", "2", secret="a secret of this test run"
    )
    try:
        deadline = time.monotonic() + 60
        answered: set[int] = set()
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            while time.monotonic() < deadline and not answered:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                try:
                    response = client.get("/health")
                except httpx2.HTTPError:
                    time.sleep(0.3)
                    continue
                assert response.status_code == 200
                assert response.json()["status"] == "ok"
                answered.add(response.status_code)
            assert answered, "the server did not answer within 60 s"
            sign_in = client.get("/sign-in")
            assert sign_in.status_code == 200
            assert 'name="csrf_token"' in sign_in.text
        workers = [
            stat for stat in Path("/proc").glob("[0-9]*/stat") if _parent(stat) == process.pid
        ]
        assert len(workers) >= 2  # uvicorn's worker processes under the supervisor
    finally:
        process.terminate()
        process.wait(timeout=30)


def _parent(stat: Path) -> int | None:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None

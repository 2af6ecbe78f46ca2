"""The peers' own virtual environments, shared by the benchmarks that compare with a library
Patron does not depend on (lifetimes, implicit, mlxtend): made on the first run under
``bench/.peers/NAME`` (git-ignored) and remade when the pinned requirements change."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

PEERS = Path(__file__).resolve().parent / ".peers"


class BenchFailed(Exception):
    """The work failed (not a missed target): the run ends with exit status 1."""


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(name: str, requirements: list[str], *, say: str) -> Path:
    """The interpreter of the virtual environment ``PEERS/name`` with ``requirements``
    installed; ``say`` is printed to stderr when it has to be made (about a minute)."""
    venv = PEERS / name
    stamp = venv / ".bench-requirements"
    wanted = "\n".join(requirements) + "\n"
    if not (stamp.is_file() and stamp.read_text() == wanted and python_of(venv).exists()):
        print(say, file=sys.stderr, flush=True)
        shutil.rmtree(venv, ignore_errors=True)
        PEERS.mkdir(parents=True, exist_ok=True)
        run([sys.executable, "-m", "venv", str(venv)], "python -m venv")
        pip = [str(python_of(venv)), "-m", "pip", "install", "--quiet"]
        run(
            [*pip, "--disable-pip-version-check", *requirements],
            "pip install " + " ".join(requirements),
        )
        stamp.write_text(wanted)
    return python_of(venv)


def run(command: list[str], what: str) -> None:
    done = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr, check=False)
    if done.returncode != 0:
        raise BenchFailed(f"{what} failed (exit status {done.returncode})")

"""The README's receiver snippet accepts what Patron signs, and refuses a tampered body."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from patron.outbox.signing import sign

README = Path(__file__).resolve().parents[2] / "README.md"


def _receiver_snippet() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Webhooks and the worker", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, "the webhooks section of README.md shows no Python snippet"
    return found.group(1)


def test_the_readme_snippet_verifies_a_real_signature() -> None:
    scope: dict[str, Any] = {}
    exec(_receiver_snippet(), scope)
    verify = scope["verify"]
    secret, body = "the-endpoint-secret-1234", b'{"id":1,"topic":"points.earned","data":{}}'
    header = sign(secret, int(time.time()), body)
    assert verify(secret, header, body)
    assert not verify(secret, header, body + b" ")
    assert not verify("another-secret-entirely", header, body)
    assert not verify(secret, sign(secret, int(time.time()) - 600, body), body)
    assert not verify(secret, "nonsense", body)

"""The HTTP POST of a webhook, with the standard library: nothing to install, easy to swap out.

Redirects are not followed: urllib would turn a redirected POST into a GET without the body,
and a 2xx from that would count as delivered. A 3xx is an answer like any other non-2xx.
"""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

# url, body, headers, timeout in seconds -> the HTTP status code. Raises OSError (refused,
# reset, timed out, name not found) or http.client.HTTPException when no status came back.
Post = Callable[[str, bytes, Mapping[str, str], float], int]

_MAX_READ = 64 * 1024  # the answer's body is read (so the connection ends cleanly) but unused


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


_opener = urllib.request.build_opener(_NoRedirects)


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    """POST ``body`` to ``url`` and return the status code, whatever it is."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(_MAX_READ)
            status: int = response.status
            return status
    except urllib.error.HTTPError as answer:  # a non-2xx answer is an answer, not a failure here
        with contextlib.suppress(OSError):
            answer.read(_MAX_READ)
        answer.close()
        return answer.code

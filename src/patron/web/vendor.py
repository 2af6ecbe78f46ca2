"""Third-party browser assets, taken from Python packages at run time: never a CDN, never copied.

Vega, Vega-Lite and Vega-Embed come as one script from ``vl-convert-python``
(``javascript_bundle``), built once and kept in the user's cache folder, keyed by that
package's version; start-up builds it in the background so the first chart needs no wait.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)
_lock = threading.Lock()
_bundle: bytes | None = None
# The snippet bundled with the libraries: what patron.js calls (window.vegaEmbed).
_GLOBALS = "window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "patron"


def vega_bundle() -> bytes:
    """The Vega + Vega-Lite + Vega-Embed script (``window.vegaEmbed``)."""
    global _bundle
    with _lock:
        if _bundle is None:
            _bundle = _load_or_build()
        return _bundle


def vega_etag() -> str:
    return hashlib.sha256(vega_bundle()).hexdigest()[:16]


def warm_up() -> None:
    """Build the bundle in a background thread (a few seconds, once per vl-convert version)."""
    thread = threading.Thread(target=_warm, name="patron-vega-bundle", daemon=True)
    thread.start()


def _warm() -> None:
    try:
        vega_bundle()
    except Exception:
        log.exception("could not build the Vega bundle")


def _load_or_build() -> bytes:
    import vl_convert

    version = getattr(vl_convert, "__version__", "unknown")
    path = cache_dir() / f"vega-embed-{version}.js"
    if path.is_file():
        return path.read_bytes()
    bundle = vl_convert.javascript_bundle(_GLOBALS).encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(bundle)
        temporary.replace(path)
    except OSError:  # a read-only home: serve from memory, build again next start
        log.warning("could not cache the Vega bundle at %s", path)
    return bundle

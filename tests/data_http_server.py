"""A local stand-in for raw.githubusercontent.com, for the fetch tests (never the internet).

``mirror(bench, data_root, serve_root)`` lays out the manifest's downloadable files under
``serve_root`` exactly as their raw URLs name them; ``serve(serve_root)`` runs ``http.server`` on
127.0.0.1; ``RewritingOpener(base)`` is an injectable ``fetch`` opener that sends each manifest URL
to that server and records the URLs it was asked for.
"""

from __future__ import annotations

import shutil
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from benchmarks_data.store import load_manifest

RAW = "https://raw.githubusercontent.com/"


def served_path(serve_root: Path, url: str) -> Path:
    assert url.startswith(RAW), url
    return serve_root / url[len(RAW):]


def mirror(bench: str, data_root: Path, serve_root: Path) -> list[str]:
    """Copy every file of ``bench`` that has a URL to its URL path; return the relpaths copied."""
    copied = []
    for entry in load_manifest(bench).files:
        if entry.url is None:
            continue
        target = served_path(serve_root, entry.url)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_root / bench / entry.relpath, target)
        copied.append(entry.relpath)
    return copied


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@contextmanager
def serve(serve_root: Path) -> Iterator[str]:
    """Serve ``serve_root`` on 127.0.0.1 (free port); yields the base URL ending in '/'."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(serve_root)))
    # A short poll interval keeps shutdown (and so each test) fast.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class RewritingOpener:
    """``opener(url)`` for ``store.fetch``: same path, local host."""

    def __init__(self, base: str):
        self.base = base
        self.urls: list[str] = []

    def __call__(self, url: str):
        assert url.startswith(RAW), f"fetch asked for a non-manifest URL: {url}"
        self.urls.append(url)
        return urllib.request.urlopen(self.base + url[len(RAW):], timeout=10)

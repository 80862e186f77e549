"""Recipe: time every request of a WSGI application, named after its route.

Run: python docs/examples/web_handler.py
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from profiletools import reporters, timed

summary = reporters.Summary()


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A tiny WSGI application (any framework's app object works the same way)."""
    body = f"hello from {environ['PATH_INFO']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def timing_middleware(app: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a WSGI app: one record per request, named 'METHOD /path'."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with timed(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}", reporters=[summary]):
            return list(app(environ, start_response))  # consume the body inside the block

    return middleware


if __name__ == "__main__":
    app = timing_middleware(application)
    for path in ["/", "/items", "/items", "/"]:
        body = app({"REQUEST_METHOD": "GET", "PATH_INFO": path}, lambda status, headers: None)
        assert body == [f"hello from {path}".encode()]
    figures = summary.stats()
    assert figures["GET /items"]["count"] == 2 and figures["GET /"]["count"] == 2
    print(summary.table())

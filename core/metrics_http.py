"""A Prometheus metrics endpoint of its own (a role's metrics port), loopback or token-guarded.

Metrics name routes, counts and timings, never ids or personal data, but they still describe the
service to whoever reads them. So a metrics port listens on loopback only, unless a scrape token
is set (`ECM_METRICS_TOKEN`): then it may listen anywhere and answers only requests carrying
`Authorization: Bearer <token>`. A non-loopback address without a token is refused.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

log = logging.getLogger("ecm.metrics")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_matches(header: str | None, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time."""
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())


def guarded(app: WsgiApp, token: str | None) -> WsgiApp:
    if token is None:
        return app

    def _app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not token_matches(environ.get("HTTP_AUTHORIZATION"), token):
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")],
            )
            return [b"metrics need Authorization: Bearer <ECM_METRICS_TOKEN>\n"]
        return app(environ, start_response)

    return _app


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


def serve(registry: CollectorRegistry, host: str, port: int, token: str | None) -> bool:
    """Serve the registry on host:port in a daemon thread (port 0 = off). False, logged, when
    refused (a non-loopback address without a token) or the port is taken: evidence keeps
    flowing without its dashboard."""
    if not port:
        return False
    if not is_loopback(host) and not token:
        log.error(
            "metrics not served on %s:%d: a non-loopback address needs ECM_METRICS_TOKEN",
            host,
            port,
        )
        return False
    try:
        server = make_server(
            host,
            port,
            guarded(make_wsgi_app(registry), token),
            server_class=_Server,
            handler_class=_QuietHandler,
        )
    except OSError as exc:
        log.error("cannot serve metrics on %s:%d: %s", host, port, exc)
        return False
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return True

"""`ecm api`: serve the HTTP API with uvicorn."""

from __future__ import annotations

import gc
import importlib.util
import signal
from types import FrameType
from typing import Literal

import click

from core.settings import get_settings


def http_implementation() -> Literal["httptools", "auto"]:
    return "httptools" if importlib.util.find_spec("httptools") is not None else "auto"


def exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """After a graceful stop uvicorn raises the SIGTERM it caught again, with the handler it
    found: the default one would end the process there and then, without running atexit, so
    the password workers' pool was never shut down (its queues' 5 semaphores reported leaked).
    Exiting runs atexit; the status is still the shell's for SIGTERM."""
    raise SystemExit(128 + signum)


@click.command("api")
@click.option("--host", default=None, help="Listen address [default: ECM_API_HOST]")
@click.option("--port", type=int, default=None, help="Listen port [default: ECM_API_PORT]")
def command(host: str | None, port: int | None) -> None:
    """Serve the HTTP API."""
    import uvicorn

    from api import metrics
    from api.app import create_app
    from api.auth.service import workers_for
    from core import logs
    from core.db import wait_for_database

    logs.setup("api")
    settings = get_settings()
    wait_for_database(settings)
    app = create_app(settings)
    workers_for(settings).warm()  # the password hashing process, before the first sign-in
    # Prometheus reads the API's metrics here: loopback only unless ECM_METRICS_TOKEN is set.
    metrics.serve_port(app, settings)
    # Everything made so far (modules, routes, the app) lives as long as the process: moved out
    # of the collector's sight, a full collection no longer walks it. A collection holds the
    # GIL and so the event loop: every request in flight waits for it.
    gc.collect()
    gc.freeze()
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    uvicorn.run(
        app,
        host=host or settings.api_host,
        port=port or settings.api_port,
        loop="uvloop",
        http=http_implementation(),
        # Longer than a load balancer's idle timeout (commonly 60 s), so the proxy, not the API,
        # closes idle keep-alive connections: otherwise a request can race the close.
        timeout_keep_alive=75,
        # The client address is ours to decide (api.auth.client): X-Forwarded-For counts only
        # from ECM_TRUSTED_PROXIES, never from uvicorn's default of loopback.
        proxy_headers=False,
        log_config=None,  # keep the JSON logs of core.logs for uvicorn's loggers too
    )

"""`ecm api`: serve the HTTP API with uvicorn."""

from __future__ import annotations

import importlib.util
from typing import Literal

import click

from core.settings import get_settings


def http_implementation() -> Literal["httptools", "auto"]:
    return "httptools" if importlib.util.find_spec("httptools") is not None else "auto"


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

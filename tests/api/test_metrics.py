"""The API exposes Prometheus metrics, counted by route template, to a scraper that holds the
metrics token or reads the loopback metrics port; nobody else."""

from __future__ import annotations

import urllib.error
import urllib.request

import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter

from api import metrics
from api.app import create_app
from core import metrics_http
from core.process import free_port
from core.settings import Settings
from tests.support.ids import unique

TOKEN = "a-scrape-token-for-tests"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}


def test_metrics_count_requests_by_route_template(settings: Settings) -> None:
    provider = unique("P")
    scraping = settings.model_copy(update={"metrics_token": TOKEN})
    with TestClient(create_app(scraping)) as client:
        client.get("/health")
        client.get(f"/providers/{provider}/visits", params={"date": "2026-03-02"})
        body = client.get("/metrics/", headers=SCRAPE).text

    assert 'ecm_api_requests_total{method="GET",route="/health",status="200"}' in body
    assert 'route="/providers/{provider_id}/visits"' in body
    assert provider not in body
    assert "process_cpu_seconds_total" in body
    assert "ecm_device_certificates_live" in body


def test_metrics_on_the_api_port_need_the_token(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        # No token configured: there are no metrics on the API's port at all.
        assert client.get("/metrics/").status_code == 404
    scraping = settings.model_copy(update={"metrics_token": TOKEN})
    with TestClient(create_app(scraping)) as client:
        missing = client.get("/metrics/")
        wrong = client.get("/metrics/", headers={"Authorization": "Bearer not-the-token"})
        right = client.get("/metrics/", headers=SCRAPE)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 401
    assert right.status_code == 200 and "ecm_api_requests_total" in right.text


def fetch(port: int, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def test_the_metrics_port_listens_on_loopback_and_checks_a_token_when_set(
    settings: Settings,
) -> None:
    port = free_port()
    local = settings.model_copy(update={"api_metrics_port": port})
    app = create_app(local)
    assert metrics.serve_port(app, local)
    status, body = fetch(port)
    assert status == 200 and "ecm_api_requests_total" in body

    # Anywhere but loopback only with a token, and then only for the token's holder.
    registry = CollectorRegistry()
    Counter("ecm_test_things", "Things.", registry=registry).inc()
    assert not metrics_http.serve(registry, "0.0.0.0", free_port(), None)
    guarded_port = free_port()
    assert metrics_http.serve(registry, "0.0.0.0", guarded_port, TOKEN)
    assert fetch(guarded_port)[0] == 401
    assert fetch(guarded_port, {"Authorization": "Bearer nope"})[0] == 401
    status, body = fetch(guarded_port, SCRAPE)
    assert status == 200 and "ecm_test_things_total 1.0" in body


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_loopback_addresses_are_recognised(host: str) -> None:
    assert metrics_http.is_loopback(host)
    assert not metrics_http.is_loopback("0.0.0.0")


def test_api_database_connections_carry_the_role_name(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        client.get("/health")
        with psycopg.connect(settings.database_url) as conn:
            names = {
                row[0] for row in conn.execute("select application_name from pg_stat_activity")
            }
    assert "ecm.api" in names

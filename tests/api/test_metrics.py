"""The API exposes Prometheus metrics: requests counted by route template, not raw path."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import Settings
from tests.support.ids import unique


def test_metrics_count_requests_by_route_template(settings: Settings) -> None:
    provider = unique("P")
    with TestClient(create_app(settings)) as client:
        client.get("/health")
        client.get(f"/providers/{provider}/visits", params={"date": "2026-03-02"})
        body = client.get("/metrics/").text

    assert 'ecm_api_requests_total{method="GET",route="/health",status="200"}' in body
    assert 'route="/providers/{provider_id}/visits"' in body
    assert provider not in body
    assert "process_cpu_seconds_total" in body


def test_api_database_connections_carry_the_role_name(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        client.get("/health")
        with psycopg.connect(settings.database_url) as conn:
            names = {
                row[0] for row in conn.execute("select application_name from pg_stat_activity")
            }
    assert "ecm.api" in names

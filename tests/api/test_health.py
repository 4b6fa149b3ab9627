from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import Settings


def test_health_reports_the_database(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_health_is_503_with_the_error_body_when_the_database_is_down() -> None:
    # Port 1 on loopback refuses connections: a real unreachable server, not a mock.
    down = Settings(env="test", database_url="postgresql://ecm@127.0.0.1:1/ecm")
    with TestClient(create_app(down)) as client:
        response = client.get("/health")

    assert response.status_code == 503
    assert response.json() == {
        "error": {"code": "database_unavailable", "message": "The database is unavailable."}
    }

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from core.settings import Settings
from gateway.protocol import public_key_to_b64
from tests.api.api_support import client_for
from tests.support.devices import TestDevice
from tests.support.ids import unique


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    yield from client_for(settings)


def document() -> dict[str, Any]:
    provider_id = unique("P")
    return {
        "providers": [{"id": provider_id, "name": "Seeded Care Ltd"}],
        "carers": [{"id": unique("C"), "provider_id": provider_id, "name": "Eve Carer"}],
        "devices": [
            {
                "id": unique("D"),
                "provider_id": provider_id,
                "public_key": public_key_to_b64(Ed25519PrivateKey.generate().public_key()),
            }
        ],
        "service_users": [
            {"id": unique("SU"), "name": "Flo User", "home_tag_uid": unique("").upper()[:14]}
        ],
    }


def registry_rows(engine: Engine, doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    provider_id = doc["providers"][0]["id"]
    with engine.connect() as conn:
        return [
            *conn.execute(text("select id, name from provider where id = :p"), {"p": provider_id}),
            *conn.execute(
                text("select id, name from carer where provider_id = :p"), {"p": provider_id}
            ),
            *conn.execute(
                text("select id, public_key, status from device where provider_id = :p"),
                {"p": provider_id},
            ),
            *conn.execute(
                text("select id, name, home_tag_uid from service_user where id = :s"),
                {"s": doc["service_users"][0]["id"]},
            ),
        ]


def test_seeding_twice_yields_the_same_rows(client: TestClient, engine: Engine) -> None:
    doc = document()

    first = client.post("/registry/seed", json=doc)
    rows = registry_rows(engine, doc)
    second = client.post("/registry/seed", json=doc)

    assert first.status_code == second.status_code == 200
    assert (
        first.json()
        == second.json()
        == {
            "councils": 0,
            "providers": 1,
            "commissions": 0,
            "carers": 1,
            "devices": 1,
            "service_users": 1,
            "telephony_numbers": 0,
            "lots": 0,
        }
    )
    assert len(rows) == 4
    assert registry_rows(engine, doc) == rows


def test_seed_naming_an_unknown_provider_is_422(client: TestClient) -> None:
    doc = document()
    doc["providers"] = []

    response = client.post("/registry/seed", json=doc)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "registry_invalid"
    assert "unknown provider" in response.json()["error"]["message"]


def test_seed_reusing_another_homes_tag_is_409_and_changes_nothing(
    client: TestClient, engine: Engine, make_device: Callable[[], TestDevice]
) -> None:
    d = make_device()
    doc = document()
    doc["service_users"][0]["home_tag_uid"] = d.tag_uid

    response = client.post("/registry/seed", json=doc)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "registry_conflict"
    # The request's transaction was rolled back whole: not even the provider was stored.
    assert registry_rows(engine, doc) == []


def test_seed_body_is_validated(client: TestClient) -> None:
    response = client.post("/registry/seed", json={"providers": [{"id": "bad id!"}]})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert {tuple(d["loc"][:4]) for d in error["details"]} == {
        ("body", "providers", 0, "id"),
        ("body", "providers", 0, "name"),
    }


def test_reads_a_provider_and_its_people_and_devices(
    client: TestClient, make_device: Callable[[], TestDevice]
) -> None:
    d = make_device()
    base = f"/providers/{d.provider_id}"

    assert client.get(base).json() == {"id": d.provider_id, "name": "Test Care Ltd"}
    assert client.get(f"{base}/carers").json() == {
        "items": [
            {
                "id": d.carer_id,
                "provider_id": d.provider_id,
                "name": "Ann Carer",
                "carer_number": None,
            }
        ],
        "next_offset": None,
    }
    [device] = client.get(f"{base}/devices").json()["items"]
    assert (device["id"], device["status"]) == (d.device_id, "active")
    providers = client.get("/providers").json()["items"]
    assert {"id": d.provider_id, "name": "Test Care Ltd"} in providers
    users = client.get("/service-users").json()["items"]
    [user] = [u for u in users if u["id"] == d.service_user_id]
    assert user["home_tag_uid"] == d.tag_uid


@pytest.mark.parametrize("suffix", ["", "/carers", "/devices"])
def test_unknown_provider_is_404_with_the_error_body(client: TestClient, suffix: str) -> None:
    provider_id = unique("nope")

    response = client.get(f"/providers/{provider_id}{suffix}")

    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": f"provider {provider_id} not found"}
    }

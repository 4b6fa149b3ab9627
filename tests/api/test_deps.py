from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import Principal, current_principal, ensure_can_read_provider
from api.errors import NotFound
from core.settings import Settings
from tests.support.access import ANONYMOUS_ADMIN
from tests.support.devices import TestDevice

MANAGER_OF_P1 = Principal(subject="m1", roles=frozenset({"manager"}), provider_id="P1")


def test_the_anonymous_administrator_reads_any_provider() -> None:
    ensure_can_read_provider(ANONYMOUS_ADMIN, "P1")
    ensure_can_read_provider(ANONYMOUS_ADMIN, "P2")


def test_a_provider_scoped_principal_reads_its_own_provider() -> None:
    ensure_can_read_provider(MANAGER_OF_P1, "P1")


def test_another_provider_looks_absent_to_a_scoped_principal() -> None:
    with pytest.raises(NotFound) as raised:
        ensure_can_read_provider(MANAGER_OF_P1, "P2")
    assert raised.value.status_code == 404


def test_a_scoped_administrator_is_still_scoped() -> None:
    scoped_admin = Principal(subject="a", roles=frozenset({"admin"}), provider_id="P1")

    with pytest.raises(NotFound):
        ensure_can_read_provider(scoped_admin, "P2")


def test_a_principal_with_no_provider_and_no_admin_role_reads_nothing() -> None:
    with pytest.raises(NotFound):
        ensure_can_read_provider(Principal(subject="nobody"), "P1")


def test_endpoints_apply_the_check(
    settings: Settings, make_device: Callable[[], TestDevice]
) -> None:
    mine, theirs = make_device(), make_device()
    app = create_app(settings)
    app.dependency_overrides[current_principal] = lambda: Principal(
        subject="m", roles=frozenset({"manager"}), provider_id=mine.provider_id
    )

    with TestClient(app) as client:
        assert client.get(f"/providers/{mine.provider_id}/visits").status_code == 200
        for path in ["", "/carers", "/devices", "/events", "/visits", "/visits/summary"]:
            response = client.get(f"/providers/{theirs.provider_id}{path}")
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "not_found"
        assert client.get("/providers").json()["items"] == [
            {"id": mine.provider_id, "name": "Test Care Ltd"}
        ]
        assert client.get("/service-users").status_code == 403
        assert client.post("/registry/seed", json={}).status_code == 403

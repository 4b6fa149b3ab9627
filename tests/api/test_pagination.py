"""Registry lists page like the evidence lists: limit, offset, next_offset; errors are uniform."""

from __future__ import annotations

from sqlalchemy import Engine

from core.settings import Settings
from tests.api.api_support import client_for
from tests.api.tenants import make_tenant


def test_provider_list_pages_cover_every_provider_once(settings: Settings, engine: Engine) -> None:
    make_tenant(engine), make_tenant(engine)
    for client in client_for(settings):
        everything = [p["id"] for p in client.get("/providers").json()["items"]]
        paged, offset = [], 0
        while offset is not None:
            body = client.get("/providers", params={"limit": 5, "offset": offset}).json()
            assert len(body["items"]) <= 5
            paged += [p["id"] for p in body["items"]]
            offset = body["next_offset"]
    assert len(everything) >= 2
    assert paged == everything


def test_bad_paging_is_a_422_in_the_error_body(settings: Settings) -> None:
    for client in client_for(settings):
        response = client.get("/providers", params={"limit": 0})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"

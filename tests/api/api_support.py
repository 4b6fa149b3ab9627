"""Helpers for the API tests: a signed-in client on the real test database, and direct evidence
inserts (ingest is another package's job; these tests only need rows to read)."""

from __future__ import annotations

import random
from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from api.auth.accounts import add_account
from api.auth.roles import Role
from core.db import make_engine
from core.settings import Settings
from gateway.protocol import EventType, GpsFix, TagReading
from ingest.store import EVENT_COLUMNS, event_row
from ingest.verify import Evidence, ReceivedMessage, VerifiedEvent
from tests.support.devices import TestDevice
from tests.support.ids import unique

_INSERT_EVENT = text(
    f"insert into device_event ({', '.join(EVENT_COLUMNS)}) "
    f"values ({', '.join(':' + column for column in EVENT_COLUMNS)})"
)


TEST_PASSWORD = "correct horse battery staple"
# One administrator per test database: hashing a password is deliberately slow.
_administrators: dict[str, str] = {}


def add_user(
    settings: Settings,
    role: Role | str = Role.ADMINISTRATOR,
    *,
    council_id: str | None = None,
    provider_id: str | None = None,
    password: str = TEST_PASSWORD,
) -> str:
    """Create an account straight in the database, as `ecm users add` does; returns its name."""
    username = unique("user-")
    engine = make_engine(settings, "tests", pool_size=1)
    try:
        with engine.begin() as conn:
            add_account(
                conn,
                username,
                password,
                Role(role),
                council_id=council_id,
                provider_id=provider_id,
            )
    finally:
        engine.dispose()
    return username


def sign_in(client: TestClient, username: str, password: str = TEST_PASSWORD) -> str:
    response = client.post("/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def client_address() -> tuple[str, int]:
    """A client address of its own, so one test's failed sign-ins never rate-limit another's."""
    return (f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}", 50000)


def administrator(settings: Settings) -> str:
    """The username of the administrator client_for signs in as by default."""
    username = _administrators.get(settings.database_url)
    if username is None:
        username = _administrators[settings.database_url] = add_user(settings)
    return username


def client_for(
    settings: Settings,
    role: Role | str = Role.ADMINISTRATOR,
    *,
    council_id: str | None = None,
    provider_id: str | None = None,
) -> Generator[TestClient, None, None]:
    """A TestClient signed in (bearer token) as an administrator, or as the role and tenant
    given: a new account for each council officer or provider manager."""
    if Role(role) is Role.ADMINISTRATOR and council_id is None and provider_id is None:
        username = administrator(settings)
    else:
        username = add_user(settings, role, council_id=council_id, provider_id=provider_id)
    with TestClient(create_app(settings), client=client_address()) as client:
        client.headers["Authorization"] = f"Bearer {sign_in(client, username)}"
        yield client


def utc(text_time: str) -> datetime:
    return datetime.fromisoformat(text_time).replace(tzinfo=UTC)


def insert_event(
    engine: Engine,
    device: TestDevice,
    type: EventType,
    at: datetime,
    *,
    tag_uid: str | None = None,
    gps: GpsFix | None = None,
    **overrides: Any,
) -> UUID:
    """Store a signed event straight into the evidence table, as ingest would."""
    # The tap's bytes do not matter here: the row carries what ingest would have decrypted.
    tap = TagReading(picc="0" * 32, mac="0" * 16) if tag_uid else None
    claims, jws = device.event(type, at, tag=tap, gps=gps, **overrides)
    evidence = Evidence(level="tag", tag_uid=tag_uid, tag_counter=1) if tag_uid else Evidence()
    # The same claims-to-row mapping ingest uses, so these rows are what ingest would store.
    received = ReceivedMessage(
        mid=0, topic=device.topic, payload=jws.encode(), received_at=datetime.now(UTC)
    )
    row = event_row(VerifiedEvent(received, claims, device.provider_id, evidence))
    with engine.begin() as conn:
        conn.execute(_INSERT_EVENT, dict(zip(EVENT_COLUMNS, row, strict=True)))
    return claims.event_id

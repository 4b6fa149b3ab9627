"""Live alerts on an injected clock; webhooks against a real local HTTP receiver; SSE."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, time, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from core.settings import Settings
from tests.api.api_support import client_for
from tests.visits.alerts_support import Receiver
from tests.visits.support import IN, CareWorld, care_world, plan, store, utc
from visits.alerts import evaluate
from visits.policy import set_policy
from visits.webhooks import (
    check_destination,
    deliver_due,
    register_endpoint,
    verify_signature,
)


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    yield from client_for(settings)


def tick(engine: Engine, settings: Settings, now: datetime) -> None:
    with engine.begin() as conn:
        evaluate(conn, settings, now)


def alerts(engine: Engine, provider_id: str) -> list[tuple[str, str, str, bool]]:
    with engine.connect() as conn:
        return [
            (ref, kind, raised.isoformat(), cleared is not None)
            for ref, kind, raised, cleared in conn.execute(
                text(
                    "select visit_ref, kind, raised_at at time zone 'UTC', cleared_at "
                    "from visit_alert where provider_id = :p order by id"
                ),
                {"p": provider_id},
            )
        ]


def council_world(engine: Engine, late: int, cutoff: str) -> CareWorld:
    w = care_world(engine)
    with engine.begin() as conn:
        set_policy(
            conn,
            w.council_id,
            late_after_minutes=late,
            missed_cutoff=time.fromisoformat(cutoff),
            correction_approval_minutes=30,
        )
    return w


def test_late_raised_at_the_council_threshold_and_cleared_when_the_visit_starts(
    engine: Engine, settings: Settings
) -> None:
    w = council_world(engine, late=10, cutoff="23:00")
    ann = w.add_handset()
    home = w.add_home()
    ref = plan(engine, w, home, "2026-02-14T09:00:00+00:00")

    tick(engine, settings, utc("2026-02-14T09:09:59"))
    assert alerts(engine, w.provider_id) == []
    tick(engine, settings, utc("2026-02-14T09:10:00"))
    assert alerts(engine, w.provider_id) == [(ref, "late", "2026-02-14T09:10:00", False)]
    tick(engine, settings, utc("2026-02-14T09:10:15"))  # raised once, not again
    assert len(alerts(engine, w.provider_id)) == 1

    store(engine, ann, home, IN, utc("2026-02-14T09:12:00"))
    tick(engine, settings, utc("2026-02-14T09:12:15"))
    assert alerts(engine, w.provider_id) == [(ref, "late", "2026-02-14T09:10:00", True)]
    with engine.connect() as conn:
        actions = conn.execute(
            text(
                "select action, payload->>'kind', payload->>'reason' from alert_notification "
                "where provider_id = :p order by id"
            ),
            {"p": w.provider_id},
        ).all()
    assert [tuple(a) for a in actions] == [
        ("raised", "late", None),
        ("cleared", "late", "visit started"),
    ]


def test_missed_at_the_next_planned_visit_or_the_daily_cut_off(
    engine: Engine, settings: Settings
) -> None:
    w = council_world(engine, late=15, cutoff="22:00")
    home = w.add_home()
    morning = plan(engine, w, home, "2026-02-15T08:00:00+00:00")
    lunch = plan(engine, w, home, "2026-02-15T12:00:00+00:00")

    tick(engine, settings, utc("2026-02-15T11:59:59"))
    assert [(r, k) for r, k, *_ in alerts(engine, w.provider_id)] == [(morning, "late")]
    tick(engine, settings, utc("2026-02-15T12:00:00"))
    assert [(r, k) for r, k, *_ in alerts(engine, w.provider_id)] == [
        (morning, "late"),
        (morning, "missed"),
    ]
    tick(engine, settings, utc("2026-02-15T21:59:30"))
    assert (lunch, "missed") not in [(r, k) for r, k, *_ in alerts(engine, w.provider_id)]
    tick(engine, settings, utc("2026-02-15T22:00:10"))
    assert (lunch, "missed", "2026-02-15T22:00:10", False) in alerts(engine, w.provider_id)


def test_cut_off_is_london_time_in_summer(engine: Engine, settings: Settings) -> None:
    w = council_world(engine, late=15, cutoff="22:00")
    home = w.add_home()
    ref = plan(engine, w, home, "2026-07-15T18:00:00+01:00")

    tick(engine, settings, utc("2026-07-15T20:59:00"))  # 21:59 BST
    assert [k for _, k, *_ in alerts(engine, w.provider_id)] == ["late"]
    tick(engine, settings, utc("2026-07-15T21:00:00"))  # 22:00 BST
    assert (ref, "missed", "2026-07-15T21:00:00", False) in alerts(engine, w.provider_id)


def deliveries(engine: Engine, endpoint_id: int) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return [
            (status, attempts)
            for status, attempts in conn.execute(
                text(
                    "select status, attempts from webhook_delivery where endpoint_id = :e "
                    "order by id"
                ),
                {"e": endpoint_id},
            )
        ]


def test_webhook_is_signed_and_retried_with_backoff_after_a_failure(
    engine: Engine, settings: Settings, client: TestClient
) -> None:
    w = council_world(engine, late=15, cutoff="23:00")
    home = w.add_home()
    ref = plan(engine, w, home, "2026-02-16T09:00:00+00:00")
    with Receiver(failures=1) as receiver, httpx.Client() as http:
        registered = client.post(f"/providers/{w.provider_id}/webhooks", json={"url": receiver.url})
        assert registered.status_code == 201, registered.text
        endpoint_id, secret = registered.json()["id"], registered.json()["secret"]
        raised_at = utc("2026-02-16T09:15:00")
        tick(engine, settings, raised_at)

        def deliver(at: datetime) -> None:
            deliver_due(engine, settings, http, now=at)

        deliver(raised_at)
        assert deliveries(engine, endpoint_id) == [("pending", 1)]
        deliver(raised_at + timedelta(seconds=1.9))  # backoff is 2 s after the first failure
        assert len(receiver.requests) == 1
        deliver(raised_at + timedelta(seconds=2))
        assert deliveries(engine, endpoint_id) == [("delivered", 2)]

    [(_, _, first_status), (headers, body, status)] = receiver.requests
    assert (first_status, status) == (500, 204)
    assert headers["X-ECM-Event"] == "alert.raised"
    assert verify_signature(
        secret,
        headers["X-ECM-Timestamp"],
        body,
        headers["X-ECM-Signature"],
        now=raised_at + timedelta(seconds=2),
    )
    assert not verify_signature(
        secret,
        headers["X-ECM-Timestamp"],
        body.replace(b"late", b"lost"),
        headers["X-ECM-Signature"],
        now=raised_at + timedelta(seconds=2),
    )
    payload = json.loads(body)
    assert (payload["visit_ref"], payload["kind"], payload["action"]) == (ref, "late", "raised")
    with engine.connect() as conn:
        log = conn.execute(
            text(
                "select a.status_code, a.error from webhook_attempt a join webhook_delivery d "
                "on d.id = a.delivery_id where d.endpoint_id = :e order by a.id"
            ),
            {"e": endpoint_id},
        ).all()
    assert [tuple(row) for row in log] == [(500, "HTTP 500"), (204, None)]


def test_webhook_gives_up_after_the_last_attempt(engine: Engine, settings: Settings) -> None:
    w = council_world(engine, late=15, cutoff="23:00")
    home = w.add_home()
    plan(engine, w, home, "2026-02-17T09:00:00+00:00")
    patient = settings.model_copy(update={"webhook_max_attempts": 3})
    start = utc("2026-02-17T09:15:00")
    with Receiver(failures=99) as receiver, httpx.Client() as http:
        with engine.begin() as conn:
            endpoint_id, _ = register_endpoint(conn, patient, w.provider_id, receiver.url)
        tick(engine, patient, start)
        # Attempts at 0 s, then after 2 s and 4 s more; nothing is tried after the third.
        for seconds in (0, 2, 6, 14, 30):
            deliver_due(engine, patient, http, now=start + timedelta(seconds=seconds))
        assert len(receiver.requests) == 3
    assert deliveries(engine, endpoint_id) == [("failed", 3)]


def test_alert_stream_sends_raises_and_clears_as_server_sent_events(
    engine: Engine, settings: Settings, client: TestClient
) -> None:
    w = council_world(engine, late=15, cutoff="23:00")
    ann = w.add_handset()
    home = w.add_home()
    ref = plan(engine, w, home, "2026-02-18T09:00:00+00:00")
    tick(engine, settings, utc("2026-02-18T09:15:00"))
    store(engine, ann, home, IN, utc("2026-02-18T09:20:00"))
    tick(engine, settings, utc("2026-02-18T09:20:10"))

    with client.stream(
        "GET",
        f"/providers/{w.provider_id}/alerts/stream",
        params={"after": 0, "max_events": 2},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text_body = "".join(response.iter_text())

    events = [block for block in text_body.split("\n\n") if block.startswith("id:")]
    parsed = [dict(line.split(": ", 1) for line in block.splitlines()) for block in events]
    assert [e["event"] for e in parsed] == ["raised", "cleared"]
    assert [json.loads(e["data"])["visit_ref"] for e in parsed] == [ref, ref]
    assert int(parsed[0]["id"]) < int(parsed[1]["id"])

    # Resuming after the first event replays only the second.
    with client.stream(
        "GET",
        f"/providers/{w.provider_id}/alerts/stream",
        params={"max_events": 1},
        headers={"Last-Event-ID": parsed[0]["id"]},
    ) as response:
        resumed = "".join(response.iter_text())
    assert f"id: {parsed[1]['id']}\nevent: cleared" in resumed

    listed = client.get(f"/providers/{w.provider_id}/alerts", params={"open_only": False})
    assert [(a["visit_ref"], a["cleared_at"] is not None) for a in listed.json()["items"]] == [
        (ref, True)
    ]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5432/",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.7/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/hook",
        "https://0.0.0.0/hook",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://224.0.0.1/hook",
    ],
)
def test_a_webhook_may_not_point_into_the_services_own_network(url: str) -> None:
    with pytest.raises(ValueError, match="non-public address"):
        check_destination(url)


def test_a_public_webhook_address_is_accepted() -> None:
    check_destination("https://8.8.8.8/hook")
    check_destination("https://[2001:4860:4860::8888]:8443/hook")


def test_in_production_a_private_webhook_is_refused_at_registration_and_at_delivery(
    engine: Engine, settings: Settings
) -> None:
    w = council_world(engine, late=15, cutoff="23:00")
    home = w.add_home()
    plan(engine, w, home, "2026-02-19T09:00:00+00:00")
    production = settings.model_copy(update={"env": "prod", "webhook_max_attempts": 1})
    start = utc("2026-02-19T09:15:00")
    with Receiver(failures=0) as receiver, httpx.Client() as http:
        with engine.begin() as conn, pytest.raises(ValueError, match="https"):
            register_endpoint(conn, production, w.provider_id, receiver.url)
        with engine.begin() as conn, pytest.raises(ValueError, match="non-public address"):
            register_endpoint(
                conn, production, w.provider_id, receiver.url.replace("http:", "https:")
            )
        # Registered while the service ran outside production (or before its name moved).
        with engine.begin() as conn:
            endpoint_id, _ = register_endpoint(conn, settings, w.provider_id, receiver.url)
        tick(engine, production, start)
        deliver_due(engine, production, http, now=start)
        assert receiver.requests == []
    assert deliveries(engine, endpoint_id) == [("failed", 1)]
    with engine.connect() as conn:
        [error] = conn.execute(
            text(
                "select a.error from webhook_attempt a join webhook_delivery d "
                "on d.id = a.delivery_id where d.endpoint_id = :e"
            ),
            {"e": endpoint_id},
        ).scalars()
    assert error.startswith("refused: webhook host '127.0.0.1' is a non-public address")

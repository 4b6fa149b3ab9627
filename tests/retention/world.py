"""A small world for retention and subject access tests: councils, a provider, and people with
every kind of record about them, written straight into a database of the test's own (retention
drops whole months of the event store, which a shared test database cannot allow)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, text

from gateway.registry import (
    Carer,
    Commission,
    Council,
    Device,
    Provider,
    RegistryDocument,
    ServiceUser,
    seed,
)
from tests.support.ids import unique

PUBLIC_KEY = "qMrBI0j-m7w2F-qNxLwtk5sYfxqoq-UQ6w3f0sivnwc"


def month_start(moment: datetime, months_back: int) -> datetime:
    """The first day of the month `months_back` before `moment`'s month, 00:00 UTC."""
    index = moment.year * 12 + moment.month - 1 - months_back
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


@dataclass
class Person:
    """A service user with one visit's worth of every record, and what was written."""

    service_user_id: str
    council_id: str
    visit_at: datetime
    rows: dict[str, int] = field(default_factory=dict)
    event_ids: list[str] = field(default_factory=list)


@dataclass
class World:
    provider_id: str
    carer_id: str
    device_id: str
    seq: int = 0

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


def make_world(engine: Engine, councils: list[str]) -> World:
    world = World(unique("P"), unique("C"), unique("D"))
    document = RegistryDocument(
        councils=[Council(id=c, name=f"Council {c}") for c in councils],
        providers=[Provider(id=world.provider_id, name="Retained Care Ltd")],
        commissions=[Commission(council_id=c, provider_id=world.provider_id) for c in councils],
        carers=[Carer(id=world.carer_id, provider_id=world.provider_id, name="Ann Carer")],
        devices=[Device(id=world.device_id, provider_id=world.provider_id, public_key=PUBLIC_KEY)],
    )
    with engine.begin() as conn:
        seed(conn, document)
    return world


def add_person(
    engine: Engine, world: World, council_id: str, visit_at: datetime, *, name: str = "Bea User"
) -> Person:
    person = Person(unique("SU"), council_id, visit_at)
    tag_uid = uuid.uuid4().hex[:14].upper()
    with engine.begin() as conn:
        seed(
            conn,
            RegistryDocument(
                service_users=[
                    ServiceUser(
                        id=person.service_user_id,
                        name=name,
                        home_lat=52.63,
                        home_lon=1.29,
                        council_id=council_id,
                    )
                ]
            ),
        )
        _home_devices(conn, person, tag_uid)
        for offset, kind in ((0, "check_in"), (30, "check_out")):
            person.event_ids.append(
                add_event(conn, world, person.service_user_id, visit_at + timedelta(minutes=offset),
                          kind, tag_uid=tag_uid)
            )  # fmt: skip
        _care_records(conn, world, person)
    person.rows["device_event"] = 2
    return person


def add_event(
    conn: Connection,
    world: World,
    service_user_id: str | None,
    at: datetime,
    kind: str = "check_in",
    *,
    tag_uid: str | None = None,
) -> str:
    """An event row as ingest stores it, with its sequence number and tag tap."""
    event_id = str(uuid.uuid4())
    seq = world.next_seq()
    claims = {"ver": 1, "event_id": event_id, "device_id": world.device_id, "seq": seq}
    conn.execute(
        text(
            "insert into device_event (event_id, device_time, received_at, device_id, "
            "provider_id, carer_id, service_user_id, seq, event_type, tag_uid, tag_counter, "
            "protocol_version, topic, raw_jws, claims, evidence_level) values (:id, :at, :at, "
            ":device, :provider, :carer, :su, :seq, :kind, :tag, :counter, 1, :topic, 'x.y.z', "
            "cast(:claims as jsonb), :level)"
        ),
        {
            "id": event_id,
            "at": at,
            "device": world.device_id,
            "provider": world.provider_id,
            "carer": world.carer_id,
            "su": service_user_id,
            "seq": seq,
            "kind": kind,
            "tag": tag_uid,
            "counter": seq if tag_uid else None,
            "topic": f"ecm/v1/devices/{world.device_id}/events",
            "claims": json.dumps(claims),
            "level": "tag" if tag_uid else "none",
        },
    )
    conn.execute(
        text("insert into device_sequence (device_id, seq, event_id) values (:d, :s, :e)"),
        {"d": world.device_id, "s": seq, "e": event_id},
    )
    if tag_uid:
        conn.execute(
            text(
                "insert into tag_tap (uid, counter, device_time, event_id) "
                "values (:uid, :counter, :at, :e)"
            ),
            {"uid": tag_uid, "counter": seq, "at": at, "e": event_id},
        )
    return event_id


def _home_devices(conn: Connection, person: Person, tag_uid: str) -> None:
    conn.execute(
        text(
            "insert into home_tag (uid, service_user_id, keys_wrapped_key, keys_ciphertext, "
            "kek_id) values (:uid, :su, '\\x01', '\\x02', 'k1')"
        ),
        {"uid": tag_uid, "su": person.service_user_id},
    )
    conn.execute(
        text(
            "insert into home_code_device (service_user_id, secret_wrapped_key, "
            "secret_ciphertext, kek_id) values (:su, '\\x01', '\\x02', 'k1')"
        ),
        {"su": person.service_user_id},
    )
    person.rows.update(home_tag=1, home_code_device=1)


def _care_records(conn: Connection, world: World, person: Person) -> None:
    su, at = person.service_user_id, person.visit_at
    ref = unique("V")
    conn.execute(
        text(
            "insert into planned_visit_version (visit_ref, version, service_user_id, provider_id, "
            "planned_start, planned_minutes, carers_required, service_type, status) values "
            "(:ref, 1, :su, :p, :at, 30, 1, 'personal_care', 'planned')"
        ),
        {"ref": ref, "su": su, "p": world.provider_id, "at": at},
    )
    visit_id, segment_id = uuid.uuid4(), uuid.uuid4()
    conn.execute(
        text(
            "insert into visit (id, provider_id, service_user_id, home_key, london_day, "
            "planned_visit_ref, planned_start, planned_minutes, carers_required, check_in, "
            "check_out, minutes, status, verification, carers, built_at) values (:id, :p, :su, "
            ":su, cast(:at as date), :ref, :at, 30, 1, :at, :out, 30, 'on_time', 'tag', 1, :at)"
        ),
        {
            "id": visit_id, "p": world.provider_id, "su": su, "at": at, "ref": ref,
            "out": at + timedelta(minutes=30),
        },
    )  # fmt: skip
    conn.execute(
        text(
            "insert into visit_carer (visit_id, segment_id, carer_id, device_id, check_in, "
            "check_out, verification) values (:v, :s, :c, :d, :at, :out, 'tag')"
        ),
        {
            "v": visit_id, "s": segment_id, "c": world.carer_id, "d": world.device_id,
            "at": at, "out": at + timedelta(minutes=30),
        },
    )  # fmt: skip
    conn.execute(
        text(
            "insert into visit_anomaly (visit_id, code, detail) "
            "values (:v, 'clock_set_back', 'a test anomaly')"
        ),
        {"v": visit_id},
    )
    conn.execute(
        text(
            "insert into visit_correction (segment_id, visit_id, provider_id, carer_id, "
            "service_user_id, reason_code, note, before, after, minutes_moved, requested_by, "
            "needs_approval) values (:s, :v, :p, :c, :su, 'forgot_check_out', 'phone died', "
            "'{}', '{}', 5, 'manager', false)"
        ),
        {"s": segment_id, "v": visit_id, "p": world.provider_id, "c": world.carer_id, "su": su},
    )
    alert_id = conn.execute(
        text(
            "insert into visit_alert (visit_ref, kind, provider_id, service_user_id, "
            "planned_start, threshold_at, raised_at) values (:ref, 'late', :p, :su, :at, :at, :at) "
            "returning id"
        ),
        {"ref": ref, "p": world.provider_id, "su": su, "at": at},
    ).scalar_one()
    notification_id = conn.execute(
        text(
            "insert into alert_notification (alert_id, provider_id, action, at, payload) "
            "values (:a, :p, 'raised', :at, cast(:payload as jsonb)) returning id"
        ),
        {"a": alert_id, "p": world.provider_id, "at": at,
         "payload": json.dumps({"service_user_id": su})},
    ).scalar_one()  # fmt: skip
    endpoint_id = conn.execute(
        text(
            "insert into webhook_endpoint (provider_id, url) "
            "values (:p, 'https://example.org/hook') returning id"
        ),
        {"p": world.provider_id},
    ).scalar_one()
    delivery_id = conn.execute(
        text(
            "insert into webhook_delivery (notification_id, endpoint_id, next_attempt_at) "
            "values (:n, :e, :at) returning id"
        ),
        {"n": notification_id, "e": endpoint_id, "at": at},
    ).scalar_one()
    conn.execute(
        text(
            "insert into webhook_attempt (delivery_id, attempted_at, status_code) "
            "values (:d, :at, 500)"
        ),
        {"d": delivery_id, "at": at},
    )
    conn.execute(
        text(
            "insert into alert_action (alert_id, action, actor, at, note) "
            "values (:a, 'acknowledged', 'manager', :at, 'rang the carer')"
        ),
        {"a": alert_id, "at": at},
    )
    conn.execute(
        text(
            "insert into manual_visit (provider_id, service_user_id, visit_ref, planned_start, "
            "alert_id, carer_id, check_in, check_out, note, requested_by) values (:p, :su, "
            ":ref, :at, :a, :c, :at, :out, 'paper timesheet', 'manager')"
        ),
        {"p": world.provider_id, "su": su, "ref": ref, "at": at, "a": alert_id,
         "c": world.carer_id, "out": at + timedelta(minutes=30)},
    )  # fmt: skip
    person.rows.update(
        planned_visit_version=1, visit=1, visit_carer=1, visit_anomaly=1, visit_correction=1,
        visit_alert=1, alert_notification=1, webhook_delivery=1, webhook_attempt=1,
        alert_action=1, manual_visit=1,
    )  # fmt: skip


def add_telephone_check_in(conn: Connection, world: World, person: Person) -> None:
    """A call from the person's landline and the event it made."""
    call = unique("CA")
    conn.execute(
        text(
            "insert into telephony_call (call_sid, first_seen_at, caller, called, provider_id, "
            "service_user_id, stage, carer_id, outcome, event_id, finished_at) values "
            "(:call, :at, '+441603123456', '+448081570001', :p, :su, 'done', :carer, "
            "'check_in', :event, :at)"
        ),
        {"call": call, "at": person.visit_at, "p": world.provider_id,
         "su": person.service_user_id, "carer": world.carer_id, "event": uuid.uuid4()},
    )  # fmt: skip
    conn.execute(
        text(
            "insert into telephony_event (event_id, call_sid, device_id, seq, event_type, "
            "device_time, carer_id, service_user_id, jws) values (:event, :call, :device, "
            ":seq, 'check_in', :at, :carer, :su, 'x.y.z')"
        ),
        {"event": uuid.uuid4(), "call": call, "device": world.device_id,
         "seq": world.next_seq(), "at": person.visit_at, "carer": world.carer_id,
         "su": person.service_user_id},
    )  # fmt: skip


def add_service_request(conn: Connection, world: World, person: Person) -> None:
    """The council's request for the person's care, one offer, its history, and the care
    package it became."""
    lot = unique("L")
    conn.execute(
        text("insert into lot (council_id, id, name) values (:c, :l, 'North')"),
        {"c": person.council_id, "l": lot},
    )
    request_id = conn.execute(
        text(
            "insert into service_request (council_id, request_ref, service_user_id, lot_id, "
            "start_date, visits, status, cascade, source, created_by, created_at, placed_at, "
            "placed_with, placed_role) values (:c, :ref, :su, :l, cast(:at as date), '[]', "
            "'placed', '[]', 'api', 'officer', :at, :at, :p, 'lead') returning id"
        ),
        {"c": person.council_id, "ref": unique("R"), "su": person.service_user_id, "l": lot,
         "at": person.visit_at, "p": world.provider_id},
    ).scalar_one()  # fmt: skip
    offer_id = conn.execute(
        text(
            "insert into service_offer (request_id, provider_id, role, stage, round, "
            "offered_at, deadline, status, decided_at, decided_by) values (:r, :p, 'lead', 0, "
            "1, :at, :deadline, 'accepted', :at, 'manager') returning id"
        ),
        {"r": request_id, "p": world.provider_id, "at": person.visit_at,
         "deadline": person.visit_at + timedelta(days=1)},
    ).scalar_one()  # fmt: skip
    conn.execute(
        text(
            "insert into service_request_event (request_id, offer_id, provider_id, at, actor, "
            "kind) values (:r, :o, :p, :at, 'manager', 'accepted')"
        ),
        {"r": request_id, "o": offer_id, "p": world.provider_id, "at": person.visit_at},
    )
    package_id = conn.execute(
        text(
            "insert into care_package (request_id, council_id, provider_id, service_user_id, "
            "lot_id, role, plan_from, planned_until, created_at) values (:r, :c, :p, :su, :l, "
            "'lead', :at, cast(:at as date), :at) returning id"
        ),
        {"r": request_id, "c": person.council_id, "p": world.provider_id,
         "su": person.service_user_id, "l": lot, "at": person.visit_at},
    ).scalar_one()  # fmt: skip
    conn.execute(
        text(
            "insert into care_package_version (package_id, version, effective_from, start_date, "
            "visits, reason, made_by, made_at) values (:pkg, 1, cast(:at as date), "
            "cast(:at as date), '[]', 'accepted', 'manager', :at)"
        ),
        {"pkg": package_id, "at": person.visit_at},
    )


def count(conn: Connection, table: str, where: str, **params: object) -> int:
    return int(
        conn.execute(text(f"select count(*) from {table} where {where}"), params).scalar_one()
    )


def care_record_counts(conn: Connection, service_user_id: str) -> dict[str, int]:
    """Rows of each care-record table about the person, as the test counts them."""
    su = {"su": service_user_id}
    named = "service_user_id = :su"
    visits = "visit_id in (select id from visit where service_user_id = :su)"
    alerts = "alert_id in (select id from visit_alert where service_user_id = :su)"
    return {
        "planned_visit_version": count(conn, "planned_visit_version", named, **su),
        "visit": count(conn, "visit", "service_user_id = :su", **su),
        "visit_carer": count(conn, "visit_carer", visits, **su),
        "visit_anomaly": count(conn, "visit_anomaly", visits, **su),
        "visit_correction": count(conn, "visit_correction", "service_user_id = :su", **su),
        "visit_alert": count(conn, "visit_alert", "service_user_id = :su", **su),
        "alert_action": count(conn, "alert_action", alerts, **su),
        "manual_visit": count(conn, "manual_visit", "service_user_id = :su", **su),
        "alert_notification": count(conn, "alert_notification", alerts, **su),
        "webhook_delivery": count(
            conn, "webhook_delivery", f"notification_id in (select id from alert_notification "
            f"where {alerts})", **su
        ),
    }  # fmt: skip

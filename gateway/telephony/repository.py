"""All SQL of the telephony bridge. Callers own the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, text

from gateway.evidence.keys import Sealed


@dataclass(frozen=True)
class CallerCarer:
    carer_id: str
    provider_id: str
    pin_hash: str | None


@dataclass(frozen=True)
class BridgeDevice:
    device_id: str
    provider_id: str
    sealed: Sealed


@dataclass(frozen=True)
class Call:
    call_sid: str
    first_seen_at: datetime
    caller: str
    called: str
    provider_id: str | None
    service_user_id: str | None
    stage: str
    carer_number: str | None
    carer_id: str | None
    attempts: int
    outcome: str | None
    refusal: str | None


@dataclass(frozen=True)
class LastEvent:
    event_type: str
    device_time: datetime


@dataclass(frozen=True)
class PendingEvent:
    event_id: UUID
    device_id: str
    jws: str


# Registry lookups -------------------------------------------------------------------------


def provider_of_number(conn: Connection, number: str) -> str | None:
    return conn.execute(
        text("select provider_id from telephony_number where number = :n"), {"n": number}
    ).scalar_one_or_none()


def home_of_landline(conn: Connection, landline: str) -> str | None:
    return conn.execute(
        text("select id from service_user where landline = :n"), {"n": landline}
    ).scalar_one_or_none()


def carer_by_number(conn: Connection, carer_number: str) -> CallerCarer | None:
    row = conn.execute(
        text(
            "select c.id, c.provider_id, p.pin_hash from carer c "
            "left join carer_pin p on p.carer_id = c.id where c.carer_number = :n"
        ),
        {"n": carer_number},
    ).first()
    return CallerCarer(*row) if row else None


def carer_provider(conn: Connection, carer_id: str) -> str | None:
    return conn.execute(
        text("select provider_id from carer where id = :c"), {"c": carer_id}
    ).scalar_one_or_none()


def set_pin(conn: Connection, carer_id: str, pin_hash: str, set_by: str) -> datetime:
    at: datetime = conn.execute(
        text(
            "insert into carer_pin (carer_id, pin_hash, set_by) values (:c, :h, :by) "
            "on conflict (carer_id) do update set pin_hash = excluded.pin_hash, "
            "set_by = excluded.set_by, set_at = now() returning set_at"
        ),
        {"c": carer_id, "h": pin_hash, "by": set_by},
    ).scalar_one()
    return at


def set_landline(conn: Connection, service_user_id: str, landline: str | None) -> bool:
    result = conn.execute(
        text("update service_user set landline = :n where id = :su"),
        {"n": landline, "su": service_user_id},
    )
    return result.rowcount == 1


def add_number(conn: Connection, number: str, provider_id: str) -> None:
    conn.execute(
        text(
            "insert into telephony_number (number, provider_id) values (:n, :p) "
            "on conflict (number) do update set provider_id = excluded.provider_id"
        ),
        {"n": number, "p": provider_id},
    )


def planned_visit_near(
    conn: Connection, provider_id: str, service_user_id: str, start: datetime, end: datetime
) -> bool:
    """Does the provider have a planned visit at this home starting within [start, end]?"""
    row = conn.execute(
        text(
            "select 1 from planned_visit_version where superseded_at is null "
            "and status = 'planned' and provider_id = :p and service_user_id = :su "
            "and planned_start between :start and :end limit 1"
        ),
        {"p": provider_id, "su": service_user_id, "start": start, "end": end},
    ).first()
    return row is not None


# The bridge's devices ----------------------------------------------------------------------


def bridge_device(conn: Connection, provider_id: str) -> BridgeDevice | None:
    row = conn.execute(
        text(
            "select device_id, provider_id, key_wrapped_key, key_ciphertext, kek_id "
            "from telephony_device where provider_id = :p"
        ),
        {"p": provider_id},
    ).first()
    if row is None:
        return None
    return BridgeDevice(row[0], row[1], Sealed(bytes(row[2]), bytes(row[3]), row[4]))


def bridge_devices(conn: Connection) -> list[BridgeDevice]:
    rows = conn.execute(
        text(
            "select device_id, provider_id, key_wrapped_key, key_ciphertext, kek_id "
            "from telephony_device order by device_id"
        )
    ).all()
    return [BridgeDevice(r[0], r[1], Sealed(bytes(r[2]), bytes(r[3]), r[4])) for r in rows]


def save_bridge_device(conn: Connection, device: BridgeDevice) -> None:
    conn.execute(
        text(
            "insert into telephony_device (device_id, provider_id, key_wrapped_key, "
            "key_ciphertext, kek_id) values (:d, :p, :w, :c, :k) "
            "on conflict (device_id) do update set key_wrapped_key = excluded.key_wrapped_key, "
            "key_ciphertext = excluded.key_ciphertext, kek_id = excluded.kek_id"
        ),
        {
            "d": device.device_id,
            "p": device.provider_id,
            "w": device.sealed.wrapped_key,
            "c": device.sealed.ciphertext,
            "k": device.sealed.kek_id,
        },
    )


def take_seq(conn: Connection, device_id: str) -> int:
    """The device's next sequence number; the row lock serialises concurrent calls."""
    seq: int = conn.execute(
        text(
            "update telephony_device set next_seq = next_seq + 1 where device_id = :d "
            "returning next_seq - 1"
        ),
        {"d": device_id},
    ).scalar_one()
    return seq


# Calls and their requests ------------------------------------------------------------------

_CALL_COLUMNS = (
    "call_sid, first_seen_at, caller, called, provider_id, service_user_id, stage, "
    "carer_number, carer_id, attempts, outcome, refusal"
)


def lock_call(conn: Connection, call_sid: str) -> Call | None:
    row = conn.execute(
        text(f"select {_CALL_COLUMNS} from telephony_call where call_sid = :s for update"),
        {"s": call_sid},
    ).first()
    return Call(*row) if row else None


def start_call(
    conn: Connection, call_sid: str, now: datetime, caller: str, called: str
) -> Call | None:
    """Records a call seen for the first time; None when another request recorded it first."""
    row = conn.execute(
        text(
            "insert into telephony_call (call_sid, first_seen_at, caller, called, stage) "
            "values (:s, :now, :caller, :called, 'carer') on conflict (call_sid) do nothing "
            f"returning {_CALL_COLUMNS}"
        ),
        {"s": call_sid, "now": now, "caller": caller, "called": called},
    ).first()
    return Call(*row) if row else None


def update_call(conn: Connection, call_sid: str, **fields: Any) -> None:
    allowed = {
        "caller",
        "called",
        "provider_id",
        "service_user_id",
        "stage",
        "carer_number",
        "carer_id",
        "attempts",
        "outcome",
        "refusal",
        "event_id",
        "finished_at",
    }
    assert set(fields) <= allowed, set(fields) - allowed
    assignments = ", ".join(f"{name} = :{name}" for name in fields)
    conn.execute(
        text(f"update telephony_call set {assignments} where call_sid = :call_sid"),
        {**fields, "call_sid": call_sid},
    )


def stored_answer(conn: Connection, call_sid: str, fingerprint: str) -> str | None:
    return conn.execute(
        text("select answer from telephony_request where call_sid = :s and fingerprint = :f"),
        {"s": call_sid, "f": fingerprint},
    ).scalar_one_or_none()


def save_answer(
    conn: Connection, call_sid: str, fingerprint: str, step: str, at: datetime, answer: str
) -> None:
    conn.execute(
        text(
            "insert into telephony_request (call_sid, fingerprint, step, received_at, answer) "
            "values (:s, :f, :step, :at, :answer)"
        ),
        {"s": call_sid, "f": fingerprint, "step": step, "at": at, "answer": answer},
    )


# PIN attempts: the throttle ------------------------------------------------------------------


def record_pin_attempt(
    conn: Connection,
    at: datetime,
    call_sid: str,
    caller: str,
    carer_id: str | None,
    succeeded: bool,
) -> None:
    conn.execute(
        text(
            "insert into telephony_pin_attempt (at, call_sid, caller, carer_id, succeeded) "
            "values (:at, :s, :caller, :carer, :ok)"
        ),
        {"at": at, "s": call_sid, "caller": caller, "carer": carer_id, "ok": succeeded},
    )


def line_failures(conn: Connection, caller: str, since: datetime) -> tuple[int, datetime | None]:
    """Wrong PINs keyed on this line since `since`, and the oldest of them."""
    count, oldest = conn.execute(
        text(
            "select count(*), min(at) from telephony_pin_attempt "
            "where caller = :caller and not succeeded and at > :since"
        ),
        {"caller": caller, "since": since},
    ).one()
    return int(count), oldest


def carer_failures(conn: Connection, carer_id: str, since: datetime) -> tuple[int, datetime | None]:
    """Wrong PINs for this carer since `since` and since the carer's last right one."""
    count, oldest = conn.execute(
        text(
            "select count(*), min(at) from telephony_pin_attempt "
            "where carer_id = :c and not succeeded and at > :since and at > coalesce("
            "(select max(at) from telephony_pin_attempt where carer_id = :c and succeeded), "
            "'-infinity')"
        ),
        {"c": carer_id, "since": since},
    ).one()
    return int(count), oldest


# Events: the bridge's outbox ---------------------------------------------------------------


def save_event(
    conn: Connection,
    *,
    event_id: UUID,
    call_sid: str,
    device_id: str,
    seq: int,
    event_type: str,
    device_time: datetime,
    carer_id: str,
    service_user_id: str,
    jws: str,
    refusal: str | None,
) -> None:
    conn.execute(
        text(
            "insert into telephony_event (event_id, call_sid, device_id, seq, event_type, "
            "device_time, carer_id, service_user_id, jws, refusal) values (:event_id, "
            ":call_sid, :device_id, :seq, :event_type, :device_time, :carer_id, "
            ":service_user_id, :jws, :refusal)"
        ),
        {
            "event_id": event_id,
            "call_sid": call_sid,
            "device_id": device_id,
            "seq": seq,
            "event_type": event_type,
            "device_time": device_time,
            "carer_id": carer_id,
            "service_user_id": service_user_id,
            "jws": jws,
            "refusal": refusal,
        },
    )


def last_event(
    conn: Connection, carer_id: str, service_user_id: str, since: datetime, until: datetime
) -> LastEvent | None:
    """The carer's latest check-in or check-out at this home in (since, until]: from the
    bridge's own calls (published or not yet) and from the stored evidence of any device."""
    row = conn.execute(
        text(
            "select event_type, device_time from ("
            "select event_type, device_time from telephony_event "
            "where carer_id = :c and service_user_id = :su and refusal is null "
            "and device_time > :since and device_time <= :until "
            "union all select event_type, device_time "
            "from device_event where carer_id = :c and service_user_id = :su "
            "and device_time > :since and device_time <= :until) e "
            "order by device_time desc limit 1"
        ),
        {"c": carer_id, "su": service_user_id, "since": since, "until": until},
    ).first()
    return LastEvent(*row) if row else None


def claim_pending(conn: Connection, limit: int, lease_s: float) -> list[PendingEvent]:
    rows = conn.execute(
        text(
            "update telephony_event set claimed_until = clock_timestamp() "
            "+ make_interval(secs => :lease) where event_id in (select event_id "
            "from telephony_event where published_at is null and (claimed_until is null "
            "or claimed_until < clock_timestamp()) order by created_at limit :n "
            "for update skip locked) returning event_id, device_id, jws"
        ),
        {"n": limit, "lease": lease_s},
    ).all()
    return [PendingEvent(*row) for row in rows]


def mark_published(conn: Connection, event_ids: list[UUID]) -> None:
    if event_ids:
        conn.execute(
            text(
                "update telephony_event set published_at = clock_timestamp() "
                "where event_id = any(:ids)"
            ),
            {"ids": event_ids},
        )


def release(conn: Connection, event_ids: list[UUID]) -> None:
    if event_ids:
        conn.execute(
            text("update telephony_event set claimed_until = null where event_id = any(:ids)"),
            {"ids": event_ids},
        )


def outbox_counts(conn: Connection) -> tuple[int, int]:
    """Events not yet published, and published."""
    pending, published = conn.execute(
        text(
            "select count(*) filter (where published_at is null), "
            "count(*) filter (where published_at is not null) from telephony_event"
        )
    ).one()
    return int(pending), int(published)


def pending_count(conn: Connection) -> int:
    return int(
        conn.execute(
            text("select count(*) from telephony_event where published_at is null")
        ).scalar_one()
    )

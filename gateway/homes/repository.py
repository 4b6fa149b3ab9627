"""All SQL for home evidence devices. Callers own the transaction; secrets arrive sealed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from gateway.evidence.keys import Sealed


@dataclass(frozen=True)
class StoredTag:
    uid: str
    service_user_id: str
    sealed: Sealed


@dataclass(frozen=True)
class StoredFob:
    id: int
    service_user_id: str
    sealed: Sealed
    digits: int
    step_s: int


def service_user_exists(conn: Connection, service_user_id: str) -> bool:
    row = conn.execute(
        text("select 1 from service_user where id = :id"), {"id": service_user_id}
    ).first()
    return row is not None


def replace_tag(conn: Connection, service_user_id: str, uid: str, sealed: Sealed) -> None:
    """The home's new tag; its previous tag is retired, so its taps stop counting."""
    conn.execute(
        text(
            "update home_tag set retired_at = now() "
            "where service_user_id = :su and retired_at is null and uid <> :uid"
        ),
        {"su": service_user_id, "uid": uid},
    )
    conn.execute(
        text(
            "insert into home_tag (uid, service_user_id, keys_wrapped_key, keys_ciphertext, "
            "kek_id) values (:uid, :su, :wrapped, :ciphertext, :kek) "
            "on conflict (uid) do update set service_user_id = excluded.service_user_id, "
            "keys_wrapped_key = excluded.keys_wrapped_key, "
            "keys_ciphertext = excluded.keys_ciphertext, kek_id = excluded.kek_id, "
            "retired_at = null"
        ),
        {
            "uid": uid,
            "su": service_user_id,
            "wrapped": sealed.wrapped_key,
            "ciphertext": sealed.ciphertext,
            "kek": sealed.kek_id,
        },
    )
    # The registry's home_tag_uid names the home's current tag (visit logs read it).
    conn.execute(
        text("update service_user set home_tag_uid = null where home_tag_uid = :uid and id <> :su"),
        {"uid": uid, "su": service_user_id},
    )
    conn.execute(
        text("update service_user set home_tag_uid = :uid where id = :su"),
        {"uid": uid, "su": service_user_id},
    )


def replace_fob(
    conn: Connection,
    service_user_id: str,
    sealed: Sealed,
    digits: int,
    step_s: int,
    window_steps: int,
) -> int:
    conn.execute(
        text(
            "update home_code_device set retired_at = now() "
            "where service_user_id = :su and retired_at is null"
        ),
        {"su": service_user_id},
    )
    row = conn.execute(
        text(
            "insert into home_code_device (service_user_id, secret_wrapped_key, "
            "secret_ciphertext, kek_id, digits, step_s, window_steps) "
            "values (:su, :wrapped, :ciphertext, :kek, :digits, :step, :window) returning id"
        ),
        {
            "su": service_user_id,
            "wrapped": sealed.wrapped_key,
            "ciphertext": sealed.ciphertext,
            "kek": sealed.kek_id,
            "digits": digits,
            "step": step_s,
            "window": window_steps,
        },
    ).one()
    return int(row[0])


def all_tags(conn: Connection) -> list[StoredTag]:
    rows = conn.execute(
        text(
            "select uid, service_user_id, keys_wrapped_key, keys_ciphertext, kek_id "
            "from home_tag for update"
        )
    ).all()
    return [StoredTag(r[0], r[1], Sealed(bytes(r[2]), bytes(r[3]), r[4])) for r in rows]


def all_fobs(conn: Connection) -> list[StoredFob]:
    rows = conn.execute(
        text(
            "select id, service_user_id, secret_wrapped_key, secret_ciphertext, kek_id, digits, "
            "step_s from home_code_device for update"
        )
    ).all()
    return [StoredFob(r[0], r[1], Sealed(bytes(r[2]), bytes(r[3]), r[4]), r[5], r[6]) for r in rows]


def rewrap_tag(conn: Connection, uid: str, sealed: Sealed) -> None:
    conn.execute(
        text("update home_tag set keys_wrapped_key = :w, kek_id = :k where uid = :uid"),
        {"w": sealed.wrapped_key, "k": sealed.kek_id, "uid": uid},
    )


def rewrap_fob(conn: Connection, fob_id: int, sealed: Sealed) -> None:
    conn.execute(
        text("update home_code_device set secret_wrapped_key = :w, kek_id = :k where id = :id"),
        {"w": sealed.wrapped_key, "k": sealed.kek_id, "id": fob_id},
    )

"""The SQL of sign-in: accounts in app_user and attempts in login_attempt."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, text

from api.auth.roles import Role


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    role: Role
    council_id: str | None
    provider_id: str | None
    active: bool
    created_at: datetime
    # Tokens carry the generation they were issued under; a new password or a forced reset
    # moves it on, so every token issued before stops working at once.
    token_generation: int = 0

    @property
    def tenant(self) -> str | None:
        return self.council_id or self.provider_id


_COLUMNS = "id, username, role, council_id, provider_id, active, created_at, token_generation"


def _account(row: Row[Any]) -> Account:
    id_, username, role, council_id, provider_id, active, created_at, generation = tuple(row)
    return Account(
        id_, username, Role(role), council_id, provider_id, active, created_at, generation
    )


def insert_account(
    conn: Connection,
    username: str,
    password_hash: str,
    role: Role,
    council_id: str | None,
    provider_id: str | None,
) -> Account:
    row = conn.execute(
        text(
            "insert into app_user (username, password_hash, role, council_id, provider_id, "
            "password_changed_at) values (:username, :hash, :role, :council_id, :provider_id, "
            f"now()) returning {_COLUMNS}"
        ),
        {
            "username": username,
            "hash": password_hash,
            "role": role.value,
            "council_id": council_id,
            "provider_id": provider_id,
        },
    ).one()
    return _account(row)


def tenant_exists(conn: Connection, table: str, id_: str) -> bool:
    if table not in ("council", "provider"):
        raise ValueError(f"not a tenant table: {table}")
    found = conn.execute(text(f"select 1 from {table} where id = :id"), {"id": id_}).first()
    return found is not None


def find_account(conn: Connection, username: str) -> Account | None:
    row = conn.execute(
        text(f"select {_COLUMNS} from app_user where lower(username) = lower(:u)"), {"u": username}
    ).first()
    return _account(row) if row else None


def password_hash_of(conn: Connection, account_id: int) -> str:
    return str(
        conn.execute(
            text("select password_hash from app_user where id = :id"), {"id": account_id}
        ).scalar_one()
    )


def active_account(conn: Connection, account_id: int) -> Account | None:
    row = conn.execute(
        text(f"select {_COLUMNS} from app_user where id = :id and active"), {"id": account_id}
    ).first()
    return _account(row) if row else None


def list_accounts(conn: Connection) -> list[Account]:
    rows = conn.execute(text(f"select {_COLUMNS} from app_user order by lower(username)"))
    return [_account(row) for row in rows]


def disable_account(conn: Connection, username: str) -> Account | None:
    row = conn.execute(
        text(
            "update app_user set active = false, disabled_at = coalesce(disabled_at, now()) "
            f"where lower(username) = lower(:u) returning {_COLUMNS}"
        ),
        {"u": username},
    ).first()
    return _account(row) if row else None


def commissioned_providers(conn: Connection, council_id: str) -> frozenset[str]:
    rows = conn.execute(
        text("select provider_id from commission where council_id = :c"), {"c": council_id}
    )
    return frozenset(row[0] for row in rows)


# Password resets ---------------------------------------------------------------------------------

# Not an argon2 hash: no password verifies against it, so a forced reset ends the old password.
NO_PASSWORD = "!reset"


def normal_code(code: str) -> str:
    """A reset code as stored: without the hyphens and spaces it is shown and typed with, in
    capitals (api.auth.accounts.new_reset_code)."""
    return "".join(code.split()).replace("-", "").upper()


def code_digest(code: str) -> str:
    return hashlib.sha256(normal_code(code).encode()).hexdigest()


def code_digests(code: str) -> tuple[str, ...]:
    """Digests a typed code may match: the normalised one, and the code exactly as typed for
    codes issued before codes were normalised (mixed case, `-` and `_` significant)."""
    exact = hashlib.sha256(code.encode()).hexdigest()
    return (code_digest(code), exact)


def force_password_reset(
    conn: Connection, account_id: int, code: str, expires_at: datetime
) -> Account | None:
    """End an active account's password and tokens, and record the code's digest."""
    row = conn.execute(
        text(
            "update app_user set password_hash = :none, token_generation = token_generation + 1, "
            "reset_code_sha256 = :digest, reset_expires_at = :expires "
            f"where id = :id and active returning {_COLUMNS}"
        ),
        {"none": NO_PASSWORD, "digest": code_digest(code), "expires": expires_at, "id": account_id},
    ).first()
    return _account(row) if row else None


def pending_resets(conn: Connection) -> dict[int, datetime]:
    """Accounts with a reset code not yet used, and when it expires."""
    rows = conn.execute(
        text(
            "select id, reset_expires_at from app_user "
            "where reset_code_sha256 is not null and reset_expires_at is not null"
        )
    )
    return {row[0]: row[1] for row in rows}


def reset_code_of(conn: Connection, account_id: int) -> tuple[str | None, datetime | None]:
    row = conn.execute(
        text("select reset_code_sha256, reset_expires_at from app_user where id = :id"),
        {"id": account_id},
    ).one()
    return row[0], row[1]


def set_password(
    conn: Connection, account_id: int, password_hash: str, *, reset_digest: str | None = None
) -> bool:
    """A new password; every token issued before stops working. With `reset_digest`, only while
    that reset code is still outstanding. True when the password was set."""
    result = conn.execute(
        text(
            "update app_user set password_hash = :hash, password_changed_at = now(), "
            "token_generation = token_generation + 1, reset_code_sha256 = null, "
            "reset_expires_at = null where id = :id "
            "and (cast(:digest as text) is null or reset_code_sha256 = :digest)"
        ),
        {"hash": password_hash, "id": account_id, "digest": reset_digest},
    )
    return result.rowcount == 1


# Login attempts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failures:
    """Failed attempts counted for a throttle, and when the latest of them happened."""

    count: int
    latest: datetime | None


def lock_pair(conn: Connection, username: str, client_addr: str) -> None:
    """Serialise attempts of one (account, address) pair, so concurrent guesses cannot all pass
    the throttle before any of them is recorded."""
    conn.execute(
        text("select pg_advisory_xact_lock(hashtextextended(:key, 7))"),
        {"key": f"ecm.login\n{username.lower()}\n{client_addr}"},
    )


def pair_failures(conn: Connection, username: str, client_addr: str, since: datetime) -> Failures:
    """Failures of this account from this address since `since` and since the pair's last
    success."""
    count, latest = conn.execute(
        text(
            """
            select count(*), max(at) from login_attempt
            where lower(username) = lower(:username) and client_addr = :client and not succeeded
              and at > :since
              and at > coalesce(
                  (select max(at) from login_attempt
                   where lower(username) = lower(:username) and client_addr = :client
                     and succeeded),
                  '-infinity')
            """
        ),
        {"username": username, "client": client_addr, "since": since},
    ).one()
    return Failures(int(count), latest)


def address_failures(conn: Connection, client_addr: str, since: datetime) -> Failures:
    """Failures from this address since `since`, whatever the account (password spraying)."""
    count, latest = conn.execute(
        text(
            "select count(*), max(at) from login_attempt "
            "where client_addr = :client and not succeeded and at > :since"
        ),
        {"client": client_addr, "since": since},
    ).one()
    return Failures(int(count), latest)


def record_attempt(
    conn: Connection, username: str, client_addr: str, at: datetime, *, succeeded: bool
) -> int:
    return int(
        conn.execute(
            text(
                "insert into login_attempt (at, username, client_addr, succeeded) "
                "values (:at, :username, :client, :succeeded) returning id"
            ),
            {"at": at, "username": username[:128], "client": client_addr, "succeeded": succeeded},
        ).scalar_one()
    )


def mark_succeeded(conn: Connection, attempt_id: int) -> None:
    conn.execute(
        text("update login_attempt set succeeded = true where id = :id"), {"id": attempt_id}
    )

"""Accounts in app_user: create, list, disable, and look up for sign-in and for each request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, text

from api.auth.passwords import hash_password
from api.auth.roles import Role


class AccountError(ValueError):
    pass


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    role: Role
    council_id: str | None
    provider_id: str | None
    active: bool
    created_at: datetime

    @property
    def tenant(self) -> str | None:
        return self.council_id or self.provider_id


_COLUMNS = "id, username, role, council_id, provider_id, active, created_at"


def _account(row: Row[Any]) -> Account:
    id_, username, role, council_id, provider_id, active, created_at = tuple(row)
    return Account(id_, username, Role(role), council_id, provider_id, active, created_at)


def add_account(
    conn: Connection,
    username: str,
    password: str,
    role: Role,
    *,
    council_id: str | None = None,
    provider_id: str | None = None,
) -> Account:
    if role is Role.COUNCIL_OFFICER and (council_id is None or provider_id is not None):
        raise AccountError("a council officer needs --council and no --provider")
    if role is Role.PROVIDER_MANAGER and (provider_id is None or council_id is not None):
        raise AccountError("a provider manager needs --provider and no --council")
    if role is Role.ADMINISTRATOR and (council_id is not None or provider_id is not None):
        raise AccountError("an administrator belongs to no council or provider")
    if find_account(conn, username) is not None:
        raise AccountError(f"user {username} already exists")
    if council_id is not None and not _exists(conn, "council", council_id):
        raise AccountError(f"no council {council_id}")
    if provider_id is not None and not _exists(conn, "provider", provider_id):
        raise AccountError(f"no provider {provider_id}")
    row = conn.execute(
        text(
            "insert into app_user (username, password_hash, role, council_id, provider_id) "
            f"values (:username, :hash, :role, :council_id, :provider_id) returning {_COLUMNS}"
        ),
        {
            "username": username,
            "hash": hash_password(password),
            "role": role.value,
            "council_id": council_id,
            "provider_id": provider_id,
        },
    ).one()
    return _account(row)


def _exists(conn: Connection, table: str, id_: str) -> bool:
    return (
        conn.execute(text(f"select 1 from {table} where id = :id"), {"id": id_}).first() is not None
    )


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


def disable_account(conn: Connection, username: str) -> Account:
    row = conn.execute(
        text(
            "update app_user set active = false, disabled_at = coalesce(disabled_at, now()) "
            f"where lower(username) = lower(:u) returning {_COLUMNS}"
        ),
        {"u": username},
    ).first()
    if row is None:
        raise AccountError(f"no user {username}")
    return _account(row)


def commissioned_providers(conn: Connection, council_id: str) -> frozenset[str]:
    rows = conn.execute(
        text("select provider_id from commission where council_id = :c"), {"c": council_id}
    )
    return frozenset(row[0] for row in rows)

"""Accounts: create, list, disable, force a password reset, and the account behind a token.

The SQL is in api.auth.repository; this module holds the rules (a role's tenant, password
length, what a token must match)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from api.auth import repository
from api.auth.passwords import hash_password
from api.auth.repository import Account
from api.auth.roles import Role
from api.auth.tokens import TokenClaims

__all__ = [
    "Account",
    "AccountError",
    "PasswordReset",
    "account_for_token",
    "active_account",
    "add_account",
    "commissioned_providers",
    "disable_account",
    "find_account",
    "force_password_reset",
    "list_accounts",
]

find_account = repository.find_account
active_account = repository.active_account
list_accounts = repository.list_accounts
commissioned_providers = repository.commissioned_providers


class AccountError(ValueError):
    pass


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
    if repository.find_account(conn, username) is not None:
        raise AccountError(f"user {username} already exists")
    if council_id is not None and not repository.tenant_exists(conn, "council", council_id):
        raise AccountError(f"no council {council_id}")
    if provider_id is not None and not repository.tenant_exists(conn, "provider", provider_id):
        raise AccountError(f"no provider {provider_id}")
    return repository.insert_account(
        conn, username, hash_password(password), role, council_id, provider_id
    )


def disable_account(conn: Connection, username: str) -> Account:
    account = repository.disable_account(conn, username)
    if account is None:
        raise AccountError(f"no user {username}")
    return account


def account_for_token(conn: Connection, claims: TokenClaims) -> Account | None:
    """The account a token speaks for, if it still may: active, same name, and issued under the
    account's current token generation (not before a password change or forced reset)."""
    account = repository.active_account(conn, claims.user_id)
    if account is None or account.username != claims.username:
        return None
    if account.token_generation != claims.generation:
        return None
    return account


@dataclass(frozen=True)
class PasswordReset:
    username: str
    reset_code: str
    expires_at: datetime


def force_password_reset(
    conn: Connection, username: str, now: datetime, ttl_s: int
) -> PasswordReset:
    """End the account's password and every token it holds; return a one-time code with which
    its owner sets a new password (POST /auth/password-reset). The code is shown once and kept
    only as its SHA-256."""
    code = secrets.token_urlsafe(24)
    expires_at = now + timedelta(seconds=ttl_s)
    account = repository.force_password_reset(conn, username, code, expires_at)
    if account is None:
        raise AccountError(f"no user {username}")
    return PasswordReset(account.username, code, expires_at)

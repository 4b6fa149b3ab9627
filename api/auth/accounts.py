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
    "AccountDisabled",
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
    "new_reset_code",
    "pending_resets",
]

find_account = repository.find_account
active_account = repository.active_account
list_accounts = repository.list_accounts
pending_resets = repository.pending_resets
commissioned_providers = repository.commissioned_providers


class AccountError(ValueError):
    pass


class AccountDisabled(AccountError):
    """The account is disabled: no reset code for it, since its owner could not sign in."""


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


# Reset codes are read off a screen and typed, or read out over the telephone: capitals and
# digits without the ones people confuse (0 and O, 1 and I, and L beside them).
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 20  # 31^20, about 99 bits; and completing a reset is throttled like a sign-in
CODE_GROUP = 4


def new_reset_code() -> str:
    """A one-time code in groups of four (`K7QM-3XTR-...`); the hyphens are for reading and
    are ignored, like spaces and letter case, when the code is typed back
    (api.auth.repository.code_digests)."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + CODE_GROUP] for i in range(0, CODE_LENGTH, CODE_GROUP))


def force_password_reset(
    conn: Connection, username: str, now: datetime, ttl_s: int
) -> PasswordReset:
    """End the account's password and every token it holds; return a one-time code with which
    its owner sets a new password (POST /auth/password-reset). The code is shown once and kept
    only as its SHA-256. A disabled account is refused (AccountDisabled): a code would let
    nobody in, and handing one out suggests otherwise."""
    found = repository.find_account(conn, username)
    if found is None:
        raise AccountError(f"no user {username}")
    if not found.active:
        raise AccountDisabled(f"user {found.username} is disabled")
    code = new_reset_code()
    expires_at = now + timedelta(seconds=ttl_s)
    account = repository.force_password_reset(conn, found.id, code, expires_at)
    if account is None:  # disabled between the two statements
        raise AccountDisabled(f"user {found.username} is disabled")
    return PasswordReset(account.username, code, expires_at)

"""Callers for tests that override `current_principal`; the application never makes them."""

from __future__ import annotations

from core.access import Role, Scope

ANONYMOUS_ADMIN = Scope(subject="anonymous", roles=frozenset({Role.ADMINISTRATOR.value}))


def administrator(subject: str = "admin") -> Scope:
    return Scope(subject=subject, roles=frozenset({Role.ADMINISTRATOR.value}))


def officer(council_id: str, provider_ids: frozenset[str] = frozenset()) -> Scope:
    """A council officer of `council_id`, whose council commissions `provider_ids`."""
    return Scope(
        subject=f"officer-{council_id}",
        roles=frozenset({Role.COUNCIL_OFFICER.value}),
        council_id=council_id,
        provider_ids=provider_ids,
    )


def manager(provider_id: str) -> Scope:
    """A provider manager of `provider_id`."""
    return Scope(
        subject=f"manager-{provider_id}",
        roles=frozenset({Role.PROVIDER_MANAGER.value}),
        provider_id=provider_id,
    )

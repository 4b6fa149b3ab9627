"""Callers for tests that override `current_principal`; the application never makes them."""

from __future__ import annotations

from core.access import Role, Scope

ANONYMOUS_ADMIN = Scope(subject="anonymous", roles=frozenset({Role.ADMINISTRATOR.value}))

"""The three roles a person can hold, and what each one's token says it may do."""

from __future__ import annotations

from core.access import Role

# Scopes are informative for clients (what the portal shows); the server decides access from
# the role and the tenant it loads from the database on every request, never from the token.
SCOPES: dict[Role, tuple[str, ...]] = {
    Role.ADMINISTRATOR: ("registry", "devices", "quarantine", "visits:read", "audit"),
    Role.COUNCIL_OFFICER: ("providers:read", "visits:read", "schedules:read", "reconciliation"),
    Role.PROVIDER_MANAGER: ("provider:read", "visits:read", "corrections"),
}

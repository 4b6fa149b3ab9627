"""Who is asking: the access scope every domain rule that depends on the caller takes.

The API builds it from the caller's token and account (api.deps.current_principal); domains take
it as an argument and never see HTTP. A provider manager sees one provider; a council officer
the providers its council commissions and its own service users; an administrator everything."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    """The three roles a person can hold (the account table's check constraint says the same)."""

    ADMINISTRATOR = "administrator"
    COUNCIL_OFFICER = "council_officer"
    PROVIDER_MANAGER = "provider_manager"


@dataclass(frozen=True)
class Scope:
    """`provider_id` set means the caller sees that provider only; `council_id` set means the
    providers in `provider_ids` (those the council commissions)."""

    subject: str
    roles: frozenset[str] = field(default_factory=frozenset)
    provider_id: str | None = None
    council_id: str | None = None
    provider_ids: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return Role.ADMINISTRATOR in self.roles

    @property
    def is_council(self) -> bool:
        return Role.COUNCIL_OFFICER in self.roles and self.council_id is not None

    @property
    def role(self) -> str:
        return next(iter(sorted(self.roles)), "")

    @property
    def tenant(self) -> str | None:
        return self.provider_id or self.council_id

    def can_read_provider(self, provider_id: str) -> bool:
        if self.provider_id is not None:
            return self.provider_id == provider_id
        if self.council_id is not None:
            return provider_id in self.provider_ids
        return self.is_admin

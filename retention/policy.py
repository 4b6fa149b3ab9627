"""Retention periods: one policy per council, with documented defaults.

Care records are kept for a period after care ends (the Records Management Code of Practice for
adult social care: commonly 8 years after the last contact), so the care-record and registry
periods count from the day a person's care ended, not from when each record was made.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from pydantic import BaseModel, ConfigDict, Field


class RetentionPolicy(BaseModel):
    """How long a council's records are kept. Every field has the documented default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    care_records_years: int = Field(
        default=8,
        ge=1,
        le=100,
        description="Evidence (device events), visits, corrections, planned visits and alerts "
        "of a service user: kept this many years after their care ended.",
        examples=[8],
    )
    registry_personal_data_years: int = Field(
        default=8,
        ge=0,
        le=100,
        description="A service user's name, home location and home tag in the registry: "
        "pseudonymised this many years after their care ended.",
        examples=[8],
    )
    quarantine_raw_days: int = Field(
        default=90,
        ge=1,
        le=36500,
        description="Raw bytes of quarantined messages: purged (the reason, time and SHA-256 "
        "stay) after this many days.",
        examples=[90],
    )
    audit_years: int = Field(
        default=8,
        ge=1,
        le=100,
        description="Audit trail entries: removed, oldest first, after this many years.",
        examples=[8],
    )
    login_attempt_days: int = Field(
        default=90,
        ge=1,
        le=36500,
        description="Sign-in attempts (user name, address, outcome): deleted after this many days.",
        examples=[90],
    )


DEFAULT_POLICY = RetentionPolicy()


@dataclass(frozen=True)
class DeploymentPeriods:
    """Periods for records that belong to no one council (quarantine, audit, sign-ins, carers):
    the longest any council's policy asks for, so no council's rule is cut short."""

    quarantine_raw_days: int
    audit_years: int
    login_attempt_days: int
    registry_personal_data_years: int
    care_records_years: int

    @classmethod
    def of(cls, policies: Iterable[RetentionPolicy]) -> DeploymentPeriods:
        chosen = list(policies) or [DEFAULT_POLICY]
        return cls(
            **{
                field.name: max(getattr(policy, field.name) for policy in chosen)
                for field in fields(cls)
            }
        )

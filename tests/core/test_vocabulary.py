"""The vocabulary (core.vocabulary, core.access.Role) and the database's check constraints say the
same words: read from the migrated database's pg_constraint, not from the migration files."""

from __future__ import annotations

import re
from enum import StrEnum

import pytest
from sqlalchemy import Engine, text

from core.access import Role
from core.vocabulary import EvidenceLevel, Verification, VisitStatus
from gateway.protocol import Rejection

pytestmark = pytest.mark.integration


def allowed_values(engine: Engine, table: str, column: str) -> set[str]:
    """The words the table's `column in (...)` check constraint allows (PostgreSQL keeps it as
    `column = ANY (ARRAY[...])`)."""
    with engine.connect() as conn:
        definitions = conn.execute(
            text(
                "select pg_get_constraintdef(c.oid) from pg_constraint c "
                "where c.contype = 'c' and c.conrelid = cast(:table as regclass)"
            ),
            {"table": table},
        ).scalars()
        found = [d for d in definitions if re.search(rf"\({column}\)?(::text)? = ANY", d)]
    assert len(found) == 1, f"{table}.{column}: expected one check constraint, got {found}"
    return set(re.findall(r"'([^']*)'::text", found[0]))


@pytest.mark.parametrize(
    ("table", "column", "vocabulary"),
    [
        ("device_event", "evidence_level", EvidenceLevel),
        ("visit", "status", VisitStatus),
        ("visit", "verification", Verification),
        ("app_user", "role", Role),
        ("quarantined_message", "reason", Rejection),
    ],
)
def test_the_check_constraint_allows_exactly_the_enum(
    engine: Engine, table: str, column: str, vocabulary: type[StrEnum]
) -> None:
    assert allowed_values(engine, table, column) == {word.value for word in vocabulary}


def test_verification_extends_the_evidence_levels_by_manual_only() -> None:
    levels = {level.value for level in EvidenceLevel}
    assert {v.value for v in Verification} - levels == {Verification.MANUAL.value}

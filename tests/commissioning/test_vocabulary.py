"""Commissioning's words (commissioning.model) and its tables' check constraints agree: read from
the migrated database, as tests/core/test_vocabulary.py does for the visits."""

from __future__ import annotations

from enum import StrEnum

import pytest
from sqlalchemy import Engine

from commissioning.model import (
    CascadeMode,
    EventKind,
    LotRole,
    OfferStatus,
    PackageChange,
    RequestStatus,
)
from tests.core.test_vocabulary import allowed_values

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("table", "column", "vocabulary"),
    [
        ("lot_member", "role", LotRole),
        ("service_offer", "role", LotRole),
        ("care_package", "role", LotRole),
        ("commissioning_policy", "additional_mode", CascadeMode),
        ("commissioning_policy", "dps_mode", CascadeMode),
        ("service_request", "status", RequestStatus),
        ("service_offer", "status", OfferStatus),
        ("service_request_event", "kind", EventKind),
        ("care_package_version", "reason", PackageChange),
    ],
)
def test_the_check_constraint_allows_exactly_the_enum(
    engine: Engine, table: str, column: str, vocabulary: type[StrEnum]
) -> None:
    assert allowed_values(engine, table, column) == {word.value for word in vocabulary}

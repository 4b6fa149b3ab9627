"""docs/service-requests.md names every decline reason, history step, file column and route as
the code has them, so an outside team can build from it alone."""

from __future__ import annotations

import re
from pathlib import Path

from commissioning.formats import DECISION_COLUMNS, PACKAGE_COLUMNS, REQUEST_COLUMNS
from commissioning.model import DeclineReason, EventKind, OfferStatus, RequestStatus
from commissioning.reports import MONITORING_COLUMNS
from tests.api.test_access_control import COMMISSIONING_ROUTES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "service-requests.md").read_text()


def test_every_decline_reason_status_and_step_is_documented() -> None:
    for reason in DeclineReason:
        assert f"| `{reason.value}` |" in DOC, reason
    for status in (*RequestStatus, *OfferStatus):
        assert f"| `{status.value}` |" in DOC, status
    for kind in EventKind:
        assert f"`{kind.value}`" in DOC, kind


def test_every_file_is_documented_with_its_columns_in_order() -> None:
    for columns in (REQUEST_COLUMNS, DECISION_COLUMNS, PACKAGE_COLUMNS, MONITORING_COLUMNS):
        assert f"\n    {', '.join(columns)}\n" in DOC, columns[0]


def test_every_route_is_in_the_table() -> None:
    for path, method in COMMISSIONING_ROUTES:
        # "`GET /packages?provider_id=`", "`POST /service-requests`", "`GET`/`PUT /councils/..."
        assert re.search(rf"{method}`?(/`\w+)? {re.escape(path)}[`?]", DOC), (method, path)

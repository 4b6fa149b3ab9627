"""Retention policies, subject access exports and erasure requests.

A council's officers and administrators only: provider managers get 403, and another council's
policy or service user is answered 404, as if it did not exist."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import ClockDep, ConnDep, Principal, PrincipalDep
from api.errors import (
    ERROR_RESPONSES,
    NOT_FOUND_RESPONSES,
    Conflict,
    Forbidden,
    NotFound,
    error_response,
)
from api.governance.schemas import ErasureReport, SubjectAccessExport
from retention import repository, service, subject
from retention.policy import RetentionPolicy

router = APIRouter(tags=["governance"], responses={**ERROR_RESPONSES, **NOT_FOUND_RESPONSES})
COUNCILS_ONLY: dict[int | str, dict[str, Any]] = {
    403: error_response("Council officers and administrators only.")
}


def _ensure_council(principal: Principal, council_id: str | None, what: str) -> None:
    if principal.is_admin:
        return
    if principal.council_id is None:
        raise Forbidden("council officers and administrators only")
    if council_id is None or principal.council_id != council_id:
        raise NotFound(f"{what} not found")


def _subject(conn: ConnDep, principal: Principal, service_user_id: str) -> str | None:
    what = f"service user {service_user_id}"
    if not principal.is_admin and principal.council_id is None:
        raise Forbidden("council officers and administrators only")
    try:
        council_id = subject.require_subject(conn, service_user_id)
    except subject.SubjectNotFound as exc:
        raise NotFound(f"{what} not found") from exc
    _ensure_council(principal, council_id, what)
    return council_id


def _policy_council(conn: ConnDep, principal: Principal, council_id: str) -> None:
    if not principal.is_admin and principal.council_id is None:
        raise Forbidden("council officers and administrators only")
    _ensure_council(principal, council_id, f"council {council_id}")
    if not repository.council_exists(conn, council_id):
        raise NotFound(f"council {council_id} not found")


@router.get(
    "/councils/{council_id}/retention-policy",
    response_model=RetentionPolicy,
    responses=COUNCILS_ONLY,
)
def get_retention_policy(
    council_id: str, conn: ConnDep, principal: PrincipalDep
) -> RetentionPolicy:
    """The council's retention periods (the defaults until it sets its own)."""
    _policy_council(conn, principal, council_id)
    return service.policy_of(conn, council_id)


@router.put(
    "/councils/{council_id}/retention-policy",
    response_model=RetentionPolicy,
    responses=COUNCILS_ONLY,
)
def put_retention_policy(
    council_id: str,
    policy: RetentionPolicy,
    conn: ConnDep,
    principal: PrincipalDep,
    clock: ClockDep,
) -> RetentionPolicy:
    """Set the council's retention periods; the next retention run applies them."""
    _policy_council(conn, principal, council_id)
    return service.set_policy(conn, council_id, policy, principal.subject, clock())


@router.get(
    "/service-users/{service_user_id}/subject-access",
    response_model=SubjectAccessExport,
    responses=COUNCILS_ONLY,
)
def subject_access_json(
    service_user_id: str, conn: ConnDep, principal: PrincipalDep, clock: ClockDep
) -> Response:
    """A subject access export: every record about the person, as JSON. Audited as a read."""
    _subject(conn, principal, service_user_id)
    found = subject.export(conn, service_user_id, clock())
    return Response(found.to_json(), media_type="application/json")


@router.get(
    "/service-users/{service_user_id}/subject-access.zip",
    responses={
        **COUNCILS_ONLY,
        200: {
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            "description": "One CSV file per kind of record, and a README.txt.",
        },
    },
    response_class=Response,
)
def subject_access_csv(
    service_user_id: str, conn: ConnDep, principal: PrincipalDep, clock: ClockDep
) -> Response:
    """The same export as CSV files (one per kind of record) in a zip."""
    _subject(conn, principal, service_user_id)
    found = subject.export(conn, service_user_id, clock())
    return Response(
        found.to_csv_zip(),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="subject-access-{service_user_id}.zip"'
        },
    )


@router.post(
    "/service-users/{service_user_id}/erasure",
    response_model=ErasureReport,
    responses={**COUNCILS_ONLY, 409: error_response("The person's care is still planned.")},
)
def erase_subject(
    service_user_id: str, conn: ConnDep, principal: PrincipalDep, clock: ClockDep
) -> ErasureReport:
    """An erasure request: the registry's personal data pseudonymised now, care records deleted
    if no retention rule still requires them; the report says what stays, until when, and why."""
    _subject(conn, principal, service_user_id)
    try:
        report = subject.erase(conn, service_user_id, principal.subject, clock())
    except subject.CareOngoing as exc:
        raise Conflict(str(exc), code="care_ongoing") from exc
    return ErasureReport.model_validate(report)

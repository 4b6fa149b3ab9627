"""A council's settings page: when a visit is late or missed, how far a correction may move
times before the council approves it, when an unresolved alert comes to the council, and
whether paying a run needs a second officer. The same services as the API's
PUT /councils/{id}/policy and PUT /councils/{id}/reconciliation/settings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from api.deps import ConnDep, PrincipalDep, SettingsDep
from api.portal.pages import page
from api.portal.paths import PORTAL_PREFIX
from reconciliation import payments
from reconciliation.access import ensure_council
from reconciliation.views import ReconciliationSettings
from visits import service as visit_service
from visits.views import CouncilPolicy

router = APIRouter()

FIELD_WORDS = {
    "late_after_minutes": "Late after",
    "missed_cutoff": "Missed at",
    "correction_approval_minutes": "Corrections need approval beyond",
    "escalate_after_minutes": "Unresolved alerts come to the council after",
}


def settings_path(council_id: str) -> str:
    return f"{PORTAL_PREFIX}/councils/{council_id}/settings"


@router.get("/councils/{council_id}/settings", response_class=HTMLResponse)
def settings_page(
    request: Request,
    council_id: str,
    conn: ConnDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> HTMLResponse:
    ensure_council(conn, principal, council_id)
    policy = visit_service.get_council_policy(conn, settings, principal, council_id)
    return page(
        request,
        "council_settings.html",
        principal,
        council_id=council_id,
        form={
            **policy.model_dump(),
            "second_payment_approval": payments.get_settings(
                conn, council_id
            ).second_payment_approval,
        },
        saved=request.query_params.get("saved") == "1",
        errors=[],
    )


@router.post("/councils/{council_id}/settings", response_model=None)
def save_settings(
    request: Request,
    council_id: str,
    conn: ConnDep,
    principal: PrincipalDep,
    late_after_minutes: Annotated[str, Form(max_length=10)] = "",
    missed_cutoff: Annotated[str, Form(max_length=5)] = "",
    correction_approval_minutes: Annotated[str, Form(max_length=10)] = "",
    escalate_after_minutes: Annotated[str, Form(max_length=10)] = "",
    second_payment_approval: Annotated[str, Form(max_length=5)] = "",
) -> HTMLResponse | RedirectResponse:
    ensure_council(conn, principal, council_id)
    form: dict[str, Any] = {
        "late_after_minutes": late_after_minutes,
        "missed_cutoff": missed_cutoff,
        "correction_approval_minutes": correction_approval_minutes,
        "escalate_after_minutes": escalate_after_minutes,
        "second_payment_approval": second_payment_approval == "yes",
    }
    try:
        policy = CouncilPolicy.model_validate(
            {key: (value or None) for key, value in form.items() if key in FIELD_WORDS}
        )
    except ValidationError as exc:
        errors = sorted(
            {FIELD_WORDS.get(str(error["loc"][0]), str(error["loc"][0])) for error in exc.errors()}
        )
        return page(
            request,
            "council_settings.html",
            principal,
            status_code=422,
            council_id=council_id,
            form=form,
            saved=False,
            errors=errors,
        )
    visit_service.set_council_policy(conn, principal, council_id, policy)
    payments.put_settings(
        conn,
        council_id,
        ReconciliationSettings(second_payment_approval=form["second_payment_approval"]),
    )
    return RedirectResponse(f"{settings_path(council_id)}?saved=1", status_code=303)

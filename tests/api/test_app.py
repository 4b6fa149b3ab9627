from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from core.settings import Settings
from tests.api.api_support import client_for

PATHS = {
    "/health": {"get"},
    "/auth/token": {"post"},
    "/auth/me": {"get"},
    "/auth/password-reset": {"post"},
    "/users/{username}/password-reset": {"post"},
    "/councils/{council_id}/retention-policy": {"get", "put"},
    "/service-users/{service_user_id}/subject-access": {"get"},
    "/service-users/{service_user_id}/subject-access.zip": {"get"},
    "/service-users/{service_user_id}/erasure": {"post"},
    "/registry/seed": {"post"},
    "/providers": {"get"},
    "/providers/{provider_id}": {"get"},
    "/providers/{provider_id}/carers": {"get"},
    "/providers/{provider_id}/devices": {"get"},
    "/service-users": {"get"},
    "/providers/{provider_id}/events": {"get"},
    "/quarantine": {"get"},
    "/providers/{provider_id}/visits": {"get"},
    "/providers/{provider_id}/visits/summary": {"get"},
    "/devices/{device_id}/certificate": {"post"},
    "/devices/{device_id}/revoke": {"post"},
    "/devices/{device_id}/certificates": {"get"},
    "/service-users/{service_user_id}/tag": {"post"},
    "/service-users/{service_user_id}/code-device": {"post"},
    "/providers/{provider_id}/visits/{visit_id}": {"get"},
    "/providers/{provider_id}/visits/{visit_id}/corrections": {"get", "post"},
    "/providers/{provider_id}/visits/{visit_id}/corrections/{correction_id}/approve": {"post"},
    "/providers/{provider_id}/alerts": {"get"},
    "/providers/{provider_id}/alerts/stream": {"get"},
    "/providers/{provider_id}/webhooks": {"post"},
    "/providers/{provider_id}/webhooks/deliveries": {"get"},
    "/schedules": {"post"},
    "/councils/{council_id}/policy": {"get", "put"},
    "/providers/{provider_id}/alerts/{alert_id}": {"get"},
    "/providers/{provider_id}/alerts/{alert_id}/acknowledge": {"post"},
    "/providers/{provider_id}/alerts/{alert_id}/assign": {"post"},
    "/providers/{provider_id}/alerts/{alert_id}/resolve": {"post"},
    "/providers/{provider_id}/manual-visits": {"get", "post"},
    "/providers/{provider_id}/manual-visits/{manual_visit_id}": {"get"},
    "/providers/{provider_id}/people": {"get"},
    "/providers/{provider_id}/visits/{visit_id}/corrections/{correction_id}/reject": {"post"},
    "/councils/{council_id}/people": {"get"},
    "/councils/{council_id}/worklist": {"get"},
    "/councils/{council_id}/worklist/decisions": {"post"},
    "/councils/{council_id}/reconciliation/settings": {"get", "put"},
    "/councils/{council_id}/reconciliation/runs/{run_id}/void": {"post"},
    "/councils/{council_id}/reconciliation/runs/{run_id}/finance.csv": {"get"},
    "/councils/{council_id}/reconciliation/runs/{run_id}/unbilled.csv": {"get"},
    "/councils/{council_id}/reconciliation/runs/{run_id}/problems.csv": {"get"},
    "/kpis.csv": {"get"},
    "/kpis": {"get"},
    "/councils/{council_id}/contract": {"get", "put"},
    "/councils/{council_id}/invoices": {"get", "post"},
    "/councils/{council_id}/reconciliation/runs": {"get", "post"},
    "/councils/{council_id}/reconciliation/runs/{run_id}": {"get"},
    "/councils/{council_id}/reconciliation/runs/{run_id}/lines": {"get"},
    "/councils/{council_id}/reconciliation/runs/{run_id}/lines/{position}": {"get"},
    "/councils/{council_id}/reconciliation/runs/{run_id}/unbilled": {"get"},
    "/councils/{council_id}/reconciliation/runs/{run_id}/report.csv": {"get"},
    "/councils/{council_id}/reconciliation/runs/{run_id}/compare/{other_run_id}": {"get"},
    "/councils/{council_id}/reconciliation/runs/{run_id}/paid": {"post"},
    "/providers/{provider_id}/carer-days": {"get"},
    "/providers/{provider_id}/carers/{carer_id}/days/{day}": {"get"},
    "/providers/{provider_id}/carer-days.csv": {"get"},
    "/providers/{provider_id}/pay-rates": {"get"},
    "/providers/{provider_id}/pay-rate": {"put"},
    "/councils/{council_id}/carer-days": {"get"},
    "/councils/{council_id}/carer-days.csv": {"get"},
    "/carers/{carer_id}/telephone-pin": {"put"},
    "/councils/{council_id}/lots": {"get"},
    "/councils/{council_id}/lots/{lot_id}": {"get", "put"},
    "/councils/{council_id}/commissioning-policy": {"get", "put"},
    "/service-requests": {"get", "post"},
    "/service-requests/decisions.csv": {"get"},
    "/service-requests/import": {"post"},
    "/service-requests/{request_id}": {"get"},
    "/service-requests/{request_id}/withdraw": {"post"},
    "/service-requests/{request_id}/reoffer": {"post"},
    "/packages": {"get"},
    "/packages.csv": {"get"},
    "/packages/{package_id}": {"get"},
    "/packages/{package_id}/changes": {"post"},
    "/packages/{package_id}/end": {"post"},
    "/commissioning/monitoring": {"get"},
    "/commissioning/monitoring.csv": {"get"},
    "/providers/{provider_id}/offers": {"get"},
    "/providers/{provider_id}/offers/{offer_id}": {"get"},
    "/providers/{provider_id}/offers/{offer_id}/accept": {"post"},
    "/providers/{provider_id}/offers/{offer_id}/decline": {"post"},
    "/providers/{provider_id}/webhooks/request-deliveries": {"get"},
}


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    yield from client_for(settings)


def test_openapi_lists_every_path(client: TestClient) -> None:
    response = client.get("/openapi.json")

    assert response.status_code == 200
    spec = response.json()
    assert (spec["info"]["title"], spec["info"]["version"]) == ("ECM API", "1")
    assert {path: set(ops) for path, ops in spec["paths"].items()} == PATHS


def test_openapi_documents_the_error_body_for_422(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    validation = spec["paths"]["/providers/{provider_id}/events"]["get"]["responses"]["422"]
    assert validation["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_docs_page_is_served(client: TestClient) -> None:
    response = client.get("/docs")

    assert response.status_code == 200
    assert "swagger" in response.text.lower()


def test_unknown_path_gets_the_error_body(client: TestClient) -> None:
    response = client.get("/no-such-thing")

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not Found"}}


def test_wrong_method_gets_the_error_body(client: TestClient) -> None:
    response = client.delete("/providers")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response.headers["allow"] == "GET"

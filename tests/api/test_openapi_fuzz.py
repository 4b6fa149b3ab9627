"""Property-based run of schemathesis over the whole OpenAPI document, signed in as an
administrator (the role that reaches every operation): no request it generates may produce a
server error, and every response must match what the document promises.

Operations are driven through schemathesis's hypothesis strategies directly, because its pytest
plugin does not load on this pytest version.
"""

from __future__ import annotations

import json

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from core.settings import Settings
from tests.api.api_support import client_for

MAX_EXAMPLES = 12


def test_the_api_keeps_its_openapi_promises(settings: Settings) -> None:
    for client in client_for(settings):
        headers = {"Authorization": client.headers["Authorization"]}
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings))
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the document has an invalid operation: {result}"
        operations.append(result.ok())
    assert len(operations) >= 12
    broken: dict[str, str] = {}
    calls = 0

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings_for_fuzzing
        def exercise(case: Case) -> None:
            nonlocal calls
            calls += 1
            response = case.call(headers=headers)
            assert response.status_code < 500, response.text
            # The registry refuses documents that are valid JSON but name unknown records (422);
            # that rule cannot be written in a schema, so "valid data accepted" is not checked.
            case.validate_response(response, excluded_checks=[positive_data_acceptance])

        try:
            exercise()
        except Exception as exc:  # collected so one run names every broken operation
            broken[operation.label] = f"{type(exc).__name__}: {exc}"[:2000]
    assert broken == {}
    assert calls >= len(operations)


settings_for_fuzzing = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


PUBLIC_OPERATIONS = {
    ("/health", "get"),
    ("/auth/token", "post"),
    # Completing a forced reset: the one-time code is the credential.
    ("/auth/password-reset", "post"),
}


def test_every_operation_is_documented_with_its_errors(settings: Settings) -> None:
    for client in client_for(settings):
        document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["OAuth2PasswordBearer"]["type"] == "oauth2"
    gaps = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            public = (path, method) in PUBLIC_OPERATIONS
            if not operation.get("summary") or not operation.get("description"):
                gaps.append((path, method, "summary and description"))
            if not public and ("401" not in responses or not operation.get("security")):
                gaps.append((path, method, "security and 401"))
            if "422" in responses and "ErrorBody" not in json.dumps(responses["422"]):
                gaps.append((path, method, "422 in the API's error body"))
            ok = [code for code in responses if code.startswith("2")]
            if not ok or "schema" not in json.dumps(responses[ok[0]]):
                gaps.append((path, method, "a response model"))
    assert gaps == []

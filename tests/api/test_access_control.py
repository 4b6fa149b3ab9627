"""The BOLA matrix: every route of the app, every role, another tenant's ids.

Routes are enumerated from `app.routes`, so an endpoint added later is covered without editing
this file: it must refuse callers without a valid token, and must never answer 2xx to a caller
asking for another tenant's objects, nor put another tenant's ids in any answer.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import jwt
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from api.auth import tokens
from api.auth.roles import Role
from core.settings import Settings
from tests.api.api_support import add_user, client_address, client_for, sign_in
from tests.api.tenants import Tenant, make_tenant

# (path, method) any caller may use without signing in.
PUBLIC = {
    ("/health", "GET"),
    ("/auth/token", "POST"),
    # Completing a forced reset: the one-time code is the credential (tests/api/test_sign_in.py).
    ("/auth/password-reset", "POST"),
    ("/openapi.json", "GET"),
    ("/docs", "GET"),
    ("/docs/oauth2-redirect", "GET"),
    ("/redoc", "GET"),
    ("/portal/sign-in", "GET"),
    ("/portal/session", "POST"),
    ("/portal/sign-out", "POST"),
    # The portal's page for the same, signed out (tests/api/test_people_pages.py).
    ("/portal/set-password", "GET"),
    ("/portal/set-password", "POST"),
    ("/portal/", "GET"),
    ("/portal/static/portal.css", "GET"),
}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")


@dataclass(frozen=True)
class Endpoint:
    path: str
    method: str
    params: tuple[str, ...]

    def url(self, ids: dict[str, str]) -> str:
        # Ids of parameters nobody has named yet fall back to the tenant's provider id, which
        # is never another object's id: the endpoint must still not answer 2xx.
        values = {p: ids.get(p, ids["provider_id"]) for p in self.params}
        return PATH_PARAM.sub(lambda match: values[match.group(1)], self.path)


def endpoints(app: FastAPI) -> list[Endpoint]:
    found = []
    # FastAPI keeps included routers as branches of app.routes; iter_route_contexts flattens
    # them into the routes as served (prefix applied).
    for route in iter_route_contexts(app.routes):
        methods: set[str] | None = route.methods
        path: str | None = route.path
        if not methods or path is None:
            continue
        params = tuple(PATH_PARAM.findall(path))
        for method in sorted(methods - {"HEAD"}):
            found.append(Endpoint(path, method, params))
    return found


def protected(app: FastAPI) -> list[Endpoint]:
    return [e for e in endpoints(app) if (e.path, e.method) not in PUBLIC]


def call(client: TestClient, endpoint: Endpoint, ids: dict[str, str]) -> tuple[int, str, str]:
    url = endpoint.url(ids)
    response = client.request(
        endpoint.method, url, json={} if endpoint.method in WRITES else None, follow_redirects=False
    )
    return response.status_code, response.text, url


def leaked(body: str, tenant: Tenant, url: str) -> bool:
    # An error may echo an id the caller sent ("provider X not found"); that reveals nothing.
    return any(marker in body for marker in tenant.markers() if marker not in url)


def refused_as_signed_out(endpoint: Endpoint, status: int, location: str | None) -> bool:
    if endpoint.path.startswith("/portal"):
        return status == 303 and location == "/portal/sign-in"
    return status == 401


@pytest.fixture(scope="module")
def tenants(engine: Engine, settings: Settings) -> tuple[Tenant, Tenant]:
    return make_tenant(engine, settings), make_tenant(engine, settings)


@pytest.fixture(scope="module")
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="module")
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, client=client_address()) as client:
        yield client


def as_role(settings: Settings, role: Role, tenant: Tenant) -> Iterator[TestClient]:
    if role is Role.COUNCIL_OFFICER:
        yield from client_for(settings, role, council_id=tenant.council_id)
    else:
        yield from client_for(settings, role, provider_id=tenant.provider_id)


TENANT_ROLES = [Role.PROVIDER_MANAGER, Role.COUNCIL_OFFICER]


# Service requests' routes (docs/service-requests.md), named so that none drops out unnoticed.
COMMISSIONING_ROUTES = {
    ("/councils/{council_id}/lots", "GET"),
    ("/councils/{council_id}/lots/{lot_id}", "GET"),
    ("/councils/{council_id}/lots/{lot_id}", "PUT"),
    ("/councils/{council_id}/commissioning-policy", "GET"),
    ("/councils/{council_id}/commissioning-policy", "PUT"),
    ("/service-requests", "GET"),
    ("/service-requests", "POST"),
    ("/service-requests/decisions.csv", "GET"),
    ("/service-requests/import", "POST"),
    ("/service-requests/{request_id}", "GET"),
    ("/service-requests/{request_id}/withdraw", "POST"),
    ("/service-requests/{request_id}/reoffer", "POST"),
    ("/packages", "GET"),
    ("/packages.csv", "GET"),
    ("/packages/{package_id}", "GET"),
    ("/packages/{package_id}/changes", "POST"),
    ("/packages/{package_id}/end", "POST"),
    ("/commissioning/monitoring", "GET"),
    ("/commissioning/monitoring.csv", "GET"),
    ("/providers/{provider_id}/offers", "GET"),
    ("/providers/{provider_id}/offers/{offer_id}", "GET"),
    ("/providers/{provider_id}/offers/{offer_id}/accept", "POST"),
    ("/providers/{provider_id}/offers/{offer_id}/decline", "POST"),
    ("/providers/{provider_id}/webhooks/request-deliveries", "GET"),
}


def test_the_matrix_sees_every_route(app: FastAPI) -> None:
    paths = {e.path for e in protected(app)}
    assert {"/providers/{provider_id}/visits", "/quarantine", "/registry/seed"} <= paths
    assert "/portal/providers" in paths
    served = {(e.path, e.method) for e in protected(app)}
    assert not COMMISSIONING_ROUTES - served


def test_every_protected_route_refuses_a_caller_without_a_token(
    app: FastAPI, anonymous: TestClient, tenants: tuple[Tenant, Tenant]
) -> None:
    failures = []
    for endpoint in protected(app):
        response = anonymous.request(
            endpoint.method, endpoint.url(tenants[0].ids()), follow_redirects=False
        )
        if not refused_as_signed_out(
            endpoint, response.status_code, response.headers.get("location")
        ):
            failures.append((endpoint, response.status_code))
    assert failures == []


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def bad_tokens(settings: Settings, username: str, user_id: int) -> dict[str, str]:
    now = int(time.time())
    claims = {
        "iss": tokens.ISSUER,
        "aud": tokens.AUDIENCE,
        "sub": username,
        "uid": user_id,
        "role": "administrator",
        "tenant": None,
        "iat": now,
        "exp": now + 600,
    }
    key = tokens.signing_key(settings)
    expired = jwt.encode({**claims, "iat": now - 3600, "exp": now - 60}, key, algorithm="HS256")
    wrong_key = jwt.encode(claims, b"k" * 32, algorithm="HS256")
    alg_none = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    header, _, signature = jwt.encode(claims, key, algorithm="HS256").split(".")
    # A provider manager's token with its role claim rewritten: the signature no longer fits.
    forged = f"{header}.{_b64({**claims, 'role': 'administrator', 'uid': user_id})}x.{signature}"
    return {
        "expired": expired,
        "wrong_key": wrong_key,
        "alg_none": alg_none,
        "forged_payload": forged,
        "garbage": "not-a-token",
    }


def test_expired_wrong_key_and_alg_none_tokens_are_refused_everywhere(
    settings: Settings, app: FastAPI, tenants: tuple[Tenant, Tenant], engine: Engine
) -> None:
    username = add_user(settings)
    with engine.connect() as conn:
        user_id = conn.exec_driver_sql(
            "select id from app_user where username = %(u)s", {"u": username}
        ).scalar_one()
    accepted = []
    with TestClient(app, client=client_address()) as client:
        for name, token in bad_tokens(settings, username, user_id).items():
            for endpoint in protected(app):
                for how in ("header", "cookie"):
                    client.cookies.clear()
                    headers = {}
                    if how == "header":
                        headers["Authorization"] = f"Bearer {token}"
                    else:
                        client.cookies.set("ecm_session", token)
                    response = client.request(
                        endpoint.method,
                        endpoint.url(tenants[0].ids()),
                        headers=headers,
                        follow_redirects=False,
                    )
                    if not refused_as_signed_out(
                        endpoint, response.status_code, response.headers.get("location")
                    ):
                        accepted.append((name, how, endpoint, response.status_code))
        # The same account with a real token gets in: the refusals above are about the tokens.
        good = sign_in(client, username)
        assert (
            client.get("/auth/me", headers={"Authorization": f"Bearer {good}"}).status_code == 200
        )
    assert accepted == []


@pytest.mark.parametrize("role", TENANT_ROLES)
def test_no_route_answers_2xx_for_another_tenants_objects(
    settings: Settings, app: FastAPI, tenants: tuple[Tenant, Tenant], role: Role
) -> None:
    mine, theirs = tenants
    leaks = []
    tried = 0
    for client in as_role(settings, role, mine):
        for endpoint in protected(app):
            if not endpoint.params:
                continue
            tried += 1
            status, body, url = call(client, endpoint, theirs.ids())
            if 200 <= status < 300 or leaked(body, theirs, url):
                leaks.append((endpoint, status))
    assert tried >= 6
    assert leaks == []


@pytest.mark.parametrize("role", TENANT_ROLES)
def test_no_answer_to_a_tenant_contains_another_tenants_rows(
    settings: Settings, app: FastAPI, tenants: tuple[Tenant, Tenant], role: Role
) -> None:
    mine, theirs = tenants
    leaks = []
    for client in as_role(settings, role, mine):
        for endpoint in protected(app):
            if endpoint.path.endswith("/stream"):
                # An open event stream for one's own provider never ends by itself; its
                # notifications are selected by provider id (tests/visits cover its content).
                continue
            status, body, url = call(client, endpoint, mine.ids())
            if leaked(body, theirs, url):
                leaks.append((endpoint, status))
    assert leaks == []


@pytest.mark.parametrize("role", TENANT_ROLES)
def test_a_tenant_reads_its_own_provider(
    settings: Settings, tenants: tuple[Tenant, Tenant], role: Role
) -> None:
    mine, _ = tenants
    for client in as_role(settings, role, mine):
        for suffix in ["", "/carers", "/devices", "/events", "/visits", "/visits/summary"]:
            response = client.get(f"/providers/{mine.provider_id}{suffix}")
            assert response.status_code == 200, (suffix, response.text)
        events = client.get(f"/providers/{mine.provider_id}/events").json()["items"]
        assert {e["event_id"] for e in events} == set(mine.event_ids)
        listed = {p["id"] for p in client.get("/providers").json()["items"]}
        assert mine.provider_id in listed


def test_a_provider_reads_its_own_offer_request_and_package(
    settings: Settings, tenants: tuple[Tenant, Tenant]
) -> None:
    mine, theirs = tenants
    done = mine.commissioned
    for client in client_for(settings, Role.PROVIDER_MANAGER, provider_id=mine.provider_id):
        for path in (
            f"/providers/{mine.provider_id}/offers",
            f"/providers/{mine.provider_id}/offers/{done.offer_id}",
            f"/service-requests/{done.request_id}",
            f"/packages/{done.package_id}",
        ):
            response = client.get(path)
            assert response.status_code == 200, (path, response.text)
        listed = {r["id"] for r in client.get("/service-requests").json()["items"]}
        assert done.request_id in listed
        assert theirs.commissioned.request_id not in listed
        # Another provider's offer under one's own provider id is not found either.
        other = theirs.commissioned.offer_id
        assert client.get(f"/providers/{mine.provider_id}/offers/{other}").status_code == 404
    for client in client_for(settings, Role.COUNCIL_OFFICER, council_id=mine.council_id):
        assert client.get(f"/service-requests/{done.request_id}").status_code == 200
        assert client.get(f"/councils/{mine.council_id}/lots/{done.lot_id}").status_code == 200
        assert client.get(f"/packages/{theirs.commissioned.package_id}").status_code == 404


def test_a_council_officer_sees_its_councils_service_users_only(
    settings: Settings, tenants: tuple[Tenant, Tenant]
) -> None:
    mine, theirs = tenants
    for client in client_for(settings, Role.COUNCIL_OFFICER, council_id=mine.council_id):
        ids = {u["id"] for u in client.get("/service-users").json()["items"]}
    assert mine.device.service_user_id in ids
    assert theirs.device.service_user_id not in ids


def test_a_provider_manager_may_not_list_service_users_nor_seed(
    settings: Settings, tenants: tuple[Tenant, Tenant]
) -> None:
    for client in client_for(settings, Role.PROVIDER_MANAGER, provider_id=tenants[0].provider_id):
        assert client.get("/service-users").status_code == 403
        assert client.post("/registry/seed", json={}).status_code == 403
        assert client.get("/quarantine").status_code == 403


def test_an_administrator_reads_every_tenant(
    settings: Settings, tenants: tuple[Tenant, Tenant]
) -> None:
    for client in client_for(settings):
        for tenant in tenants:
            assert client.get(f"/providers/{tenant.provider_id}/visits").status_code == 200


def test_a_disabled_account_is_refused_with_a_token_it_already_holds(
    settings: Settings, engine: Engine, app: FastAPI
) -> None:
    username = add_user(settings)
    with TestClient(app, client=client_address()) as client:
        token = sign_in(client, username)
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/auth/me", headers=headers).status_code == 200
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "update app_user set active = false where username = %(u)s", {"u": username}
            )
        response = client.get("/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


# The portal's working records: alerts, manual visits, exports. Each is asked for with the other
# tenant's real ids; each must be 404 (a council officer: 404 too; a provider on a council's
# exports: 403, as for every council route).
WORKING_RECORDS = [
    ("GET", "/providers/{provider_id}/alerts/{alert_id}"),
    ("POST", "/providers/{provider_id}/alerts/{alert_id}/acknowledge"),
    ("POST", "/providers/{provider_id}/alerts/{alert_id}/assign"),
    ("POST", "/providers/{provider_id}/alerts/{alert_id}/resolve"),
    ("GET", "/providers/{provider_id}/manual-visits"),
    ("GET", "/providers/{provider_id}/manual-visits/{manual_visit_id}"),
    ("POST", "/providers/{provider_id}/manual-visits"),
    ("GET", "/providers/{provider_id}/people"),
    ("GET", "/councils/{council_id}/worklist"),
    ("GET", "/councils/{council_id}/people"),
    ("GET", "/councils/{council_id}/policy"),
    ("GET", "/councils/{council_id}/reconciliation/settings"),
    ("GET", "/councils/{council_id}/reconciliation/runs/{run_id}/finance.csv"),
    ("GET", "/councils/{council_id}/reconciliation/runs/{run_id}/unbilled.csv"),
    ("GET", "/councils/{council_id}/reconciliation/runs/{run_id}/problems.csv"),
    ("POST", "/councils/{council_id}/reconciliation/runs/{run_id}/void"),
    ("GET", "/portal/providers/{provider_id}/alerts"),
    ("GET", "/portal/providers/{provider_id}/alerts/{alert_id}"),
    ("POST", "/portal/providers/{provider_id}/alerts/{alert_id}/acknowledge"),
    ("GET", "/portal/councils/{council_id}/worklist"),
    ("GET", "/portal/councils/{council_id}/settings"),
    ("GET", "/portal/councils/{council_id}/reconciliation/runs/{run_id}/pay"),
]


def test_the_matrix_covers_the_working_records(app: FastAPI) -> None:
    served = {(e.method, e.path) for e in endpoints(app)}
    assert set(WORKING_RECORDS) <= served


@pytest.mark.parametrize("role", TENANT_ROLES)
def test_alerts_manual_visits_and_exports_of_another_tenant_are_not_found(
    settings: Settings, tenants: tuple[Tenant, Tenant], role: Role
) -> None:
    mine, theirs = tenants
    # Valid bodies, so the answer is about whose records they are, not about the body.
    bodies: dict[str, dict[str, object]] = {
        "/assign": {"carer_id": theirs.device.carer_id},
        "/resolve": {"reason_code": "hospital", "note": "x"},
        "/manual-visits": {
            "visit_ref": "V1",
            "carer_id": theirs.device.carer_id,
            "check_in": "2026-01-01T09:00:00Z",
            "check_out": "2026-01-01T09:30:00Z",
            "note": "x",
        },
        "/void": {"reason": "x"},
    }
    answers = {}
    for client in as_role(settings, role, mine):
        for method, path in WORKING_RECORDS:
            url = Endpoint(path, method, tuple(PATH_PARAM.findall(path))).url(theirs.ids())
            body = next((b for end, b in bodies.items() if path.endswith(end)), {})
            response = client.request(
                method,
                url,
                json=body if method == "POST" and not path.startswith("/portal") else None,
                follow_redirects=False,
            )
            assert not leaked(response.text, theirs, url), (method, path)
            answers[(method, path)] = response.status_code
    council_routes = {k for k in answers if k[1].startswith(("/councils", "/portal/councils"))}
    for key, status in answers.items():
        if role is Role.PROVIDER_MANAGER and key in council_routes:
            assert status in (403, 404), (key, status)
        else:
            assert status == 404, (key, status)


@pytest.mark.parametrize("role", TENANT_ROLES)
def test_a_tenant_reads_its_own_working_records(
    settings: Settings, tenants: tuple[Tenant, Tenant], role: Role
) -> None:
    mine, _ = tenants
    ids = mine.ids()
    for client in as_role(settings, role, mine):
        alert = client.get(f"/providers/{mine.provider_id}/alerts/{ids['alert_id']}")
        assert alert.status_code == 200 and alert.json()["resolution"] == "delivered"
        manual = client.get(f"/providers/{mine.provider_id}/manual-visits/{ids['manual_visit_id']}")
        assert manual.status_code == 200 and manual.json()["decision"] is None
        if role is Role.COUNCIL_OFFICER:
            listed = client.get(f"/councils/{mine.council_id}/worklist").json()
            assert [m["id"] for m in listed["manual_visits"]] == [int(ids["manual_visit_id"])]
            finance = client.get(
                f"/councils/{mine.council_id}/reconciliation/runs/{ids['run_id']}/finance.csv"
            )
            assert finance.status_code == 200 and mine.provider_id in finance.text

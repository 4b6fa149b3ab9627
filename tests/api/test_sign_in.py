"""Sign-in: the password flow, token contents, the rate limit, and `ecm users`."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from api.auth import tokens
from api.auth.passwords import hash_password, verify_password
from api.auth.roles import Role
from core.settings import Settings
from tests.api.api_support import TEST_PASSWORD, add_user, client_address, sign_in
from tests.api.tenants import make_tenant
from tests.support.ids import unique
from tests.support.paths import ROOT


def test_a_password_hash_is_argon2id_and_verifies_only_the_password() -> None:
    hashed = hash_password("a long enough password")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "a long enough password")
    assert not verify_password(hashed, "a long enough passworD")
    with pytest.raises(ValueError):
        hash_password("short")


def test_sign_in_issues_a_short_lived_token_naming_role_and_tenant(
    settings: Settings, engine: Engine
) -> None:
    tenant = make_tenant(engine)
    username = add_user(settings, Role.COUNCIL_OFFICER, council_id=tenant.council_id)
    with TestClient(create_app(settings), client=client_address()) as client:
        response = client.post(
            "/auth/token", data={"username": username, "password": TEST_PASSWORD}
        )
        assert response.status_code == 200
        body = response.json()
        me = client.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_ttl_s
    claims = tokens.decode(settings, body["access_token"])
    assert claims.role is Role.COUNCIL_OFFICER
    assert claims.tenant == tenant.council_id
    assert claims.expires_at - claims.issued_at == settings.access_token_ttl_s
    assert "reconciliation" in claims.scopes
    assert me.json() == {
        "username": username,
        "role": "council_officer",
        "council_id": tenant.council_id,
        "provider_id": None,
        "provider_ids": [tenant.provider_id],
    }


def test_wrong_password_unknown_user_and_disabled_account_look_the_same(
    settings: Settings, engine: Engine
) -> None:
    username, disabled = add_user(settings), add_user(settings)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "update app_user set active = false where username = %(u)s", {"u": disabled}
        )
    with TestClient(create_app(settings), client=client_address()) as client:
        answers = [
            client.post("/auth/token", data={"username": name, "password": password})
            for name, password in [
                (username, "wrong password here"),
                (unique("nobody-"), TEST_PASSWORD),
                (disabled, TEST_PASSWORD),
            ]
        ]
    assert {a.status_code for a in answers} == {401}
    assert {a.json()["error"]["code"] for a in answers} == {"invalid_credentials"}
    assert all(a.headers["www-authenticate"] == "Bearer" for a in answers)


def test_failed_sign_ins_are_limited_per_account(settings: Settings) -> None:
    limited = settings.model_copy(update={"login_max_failures_per_account": 3})
    username = add_user(settings)
    with TestClient(create_app(limited), client=client_address()) as client:
        statuses = [
            client.post("/auth/token", data={"username": username, "password": "wrong guess 1234"})
            for _ in range(4)
        ]
        # Locked for the window even with the right password: a guesser learns nothing.
        right = client.post("/auth/token", data={"username": username, "password": TEST_PASSWORD})
    assert [r.status_code for r in statuses] == [401, 401, 401, 429]
    assert right.status_code == 429
    assert right.json()["error"]["code"] == "rate_limited"
    assert 0 < int(right.headers["retry-after"]) <= settings.login_window_s


def test_a_success_resets_the_accounts_failure_count(settings: Settings) -> None:
    limited = settings.model_copy(update={"login_max_failures_per_account": 2})
    username = add_user(settings)
    with TestClient(create_app(limited), client=client_address()) as client:
        wrong = {"username": username, "password": "wrong guess 1234"}
        assert client.post("/auth/token", data=wrong).status_code == 401
        sign_in(client, username)
        assert client.post("/auth/token", data=wrong).status_code == 401
        assert client.post("/auth/token", data=wrong).status_code == 401
        assert client.post("/auth/token", data=wrong).status_code == 429


def test_failed_sign_ins_are_limited_per_client_address(settings: Settings) -> None:
    limited = settings.model_copy(update={"login_max_failures_per_client": 3})
    address = client_address()
    with TestClient(create_app(limited), client=address) as client:
        statuses = [
            client.post(
                "/auth/token", data={"username": unique("spray-"), "password": "wrong guess 1234"}
            ).status_code
            for _ in range(4)
        ]
    assert statuses == [401, 401, 401, 429]
    # Another address is not affected.
    with TestClient(create_app(limited), client=client_address()) as client:
        sign_in(client, add_user(settings))


def ecm(role_env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecm", *args],
        env={**role_env, "COLUMNS": "200"},
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_ecm_users_add_list_disable(
    settings: Settings, role_env: dict[str, str], engine: Engine
) -> None:
    tenant = make_tenant(engine)
    username = unique("manager-")
    added = ecm(
        role_env,
        "users", "add", username, "--role", "provider_manager", "--provider", tenant.provider_id,
        "--password-stdin",
        stdin="a long enough password\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    listed = ecm(role_env, "users", "list")
    assert username in listed.stdout and tenant.provider_id in listed.stdout
    with TestClient(create_app(settings), client=client_address()) as client:
        sign_in(client, username, "a long enough password")
        assert ecm(role_env, "users", "disable", username).returncode == 0
        refused = client.post(
            "/auth/token", data={"username": username, "password": "a long enough password"}
        )
    assert refused.status_code == 401
    assert "disabled" in ecm(role_env, "users", "list").stdout
    # A manager without a provider is refused, with a reason.
    wrong = ecm(
        role_env, "users", "add", unique("x-"), "--role", "provider_manager", "--password-stdin",
        stdin="a long enough password\n",
    )  # fmt: skip
    assert wrong.returncode != 0
    assert "--provider" in wrong.stderr


def test_a_missing_token_is_a_401_in_the_error_body(settings: Settings) -> None:
    with TestClient(create_app(settings), client=client_address()) as client:
        response = client.get("/providers")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "error": {"code": "not_authenticated", "message": "sign in first: POST /auth/token"}
    }


def test_request_ids_are_echoed_when_sane_and_replaced_when_not(settings: Settings) -> None:
    with TestClient(create_app(settings), client=client_address()) as client:
        kept = client.get("/health", headers={"X-Request-ID": "trace-42.a_b"})
        replaced = client.get("/health", headers={"X-Request-ID": "bad id\\r\\nX-Evil: 1"})
        fresh = client.get("/health")
    assert kept.headers["x-request-id"] == "trace-42.a_b"
    assert replaced.headers["x-request-id"] not in ("", "bad id\\r\\nX-Evil: 1")
    assert len(fresh.headers["x-request-id"]) == 32

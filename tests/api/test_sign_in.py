"""Sign-in: the password flow, token contents, the rate limit, and `ecm users`."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, text

from api.app import create_app
from api.auth import tokens
from api.auth.passwords import PasswordWorkers, hash_password, verify_password
from api.auth.roles import Role
from core.db import make_engine
from core.settings import Settings
from tests.api.api_support import TEST_PASSWORD, add_user, client_address, client_for, sign_in
from tests.api.tenants import make_tenant
from tests.support.ids import unique
from tests.support.paths import ROOT
from tests.support.polling import wait_until


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


class Clock:
    """The app's clock, moved by the test: delays are tested without waiting for them."""

    def __init__(self) -> None:
        self.now = datetime(2031, 5, 6, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def clocked_app(settings: Settings) -> tuple[FastAPI, Clock]:
    app, clock = create_app(settings), Clock()
    app.state.clock = clock
    return app, clock


def attempt(client: TestClient, username: str, password: str) -> Response:
    return client.post("/auth/token", data={"username": username, "password": password})


def test_a_stranger_guessing_cannot_lock_the_owner_out(settings: Settings) -> None:
    owner = add_user(settings)
    app, _ = clocked_app(settings)
    stranger_address, owner_address = client_address(), client_address()
    with TestClient(app, client=stranger_address) as stranger:
        guesses = [attempt(stranger, owner, f"guess number {n:04d}") for n in range(12)]
        # Even the right password is refused to the throttled stranger: guessing teaches nothing.
        right = attempt(stranger, owner, TEST_PASSWORD)
    statuses = [g.status_code for g in guesses]
    assert statuses[:3] == [401, 401, 401]
    assert set(statuses[3:]) == {429}
    assert right.status_code == 429
    assert right.json()["error"]["code"] == "rate_limited"
    assert int(right.headers["retry-after"]) >= 1
    # Meanwhile the owner, from an address without failures, signs in at once.
    with TestClient(app, client=owner_address) as owner_client:
        assert attempt(owner_client, owner, TEST_PASSWORD).status_code == 200


def test_delays_double_with_each_failure_and_retry_after_says_how_long(
    settings: Settings,
) -> None:
    username = add_user(settings)
    app, clock = clocked_app(settings)
    with TestClient(app, client=client_address()) as client:
        for _ in range(settings.login_free_failures):
            assert attempt(client, username, "wrong guess 1234").status_code == 401
        waits = []
        for _ in range(5):
            refused = attempt(client, username, "wrong guess 1234")
            assert refused.status_code == 429
            wait = int(refused.headers["retry-after"])
            waits.append(wait)
            clock.advance(wait - 0.5)
            assert attempt(client, username, "wrong guess 1234").status_code == 429
            clock.advance(0.5)
            # The delay has passed: the attempt is heard (and fails, and counts).
            assert attempt(client, username, "wrong guess 1234").status_code == 401
        assert waits == [1, 2, 4, 8, 16]
        refused = attempt(client, username, TEST_PASSWORD)
        assert int(refused.headers["retry-after"]) == 32
        clock.advance(32)
        # The right password after the wait signs in, and the pair starts afresh.
        assert attempt(client, username, TEST_PASSWORD).status_code == 200
        for _ in range(settings.login_free_failures):
            assert attempt(client, username, "wrong guess 1234").status_code == 401


def test_delays_stop_growing_at_the_maximum(settings: Settings) -> None:
    capped = settings.model_copy(update={"login_max_delay_s": 5.0})
    username = add_user(settings)
    app, clock = create_app(capped), Clock()
    app.state.clock = clock
    with TestClient(app, client=client_address()) as client:
        for _ in range(capped.login_free_failures + 6):
            response = attempt(client, username, "wrong guess 1234")
            if response.status_code == 429:
                clock.advance(float(response.headers["retry-after"]))
                response = attempt(client, username, "wrong guess 1234")
            assert response.status_code == 401
        assert int(attempt(client, username, "wrong guess 1234").headers["retry-after"]) == 5


def test_an_address_trying_many_accounts_is_slowed_down(settings: Settings) -> None:
    limited = settings.model_copy(update={"login_free_failures_per_client": 3})
    app, _ = clocked_app(limited)
    with TestClient(app, client=client_address()) as client:
        statuses = [
            attempt(client, unique("spray-"), "wrong guess 1234").status_code for _ in range(4)
        ]
    assert statuses == [401, 401, 401, 429]
    # Another address is not affected.
    with TestClient(app, client=client_address()) as client:
        sign_in(client, add_user(settings))


def test_x_forwarded_for_counts_only_from_a_configured_proxy(settings: Settings) -> None:
    username = add_user(settings)
    proxy = client_address()
    wrong = {"username": username, "password": "wrong guess 1234"}

    def statuses(app: FastAPI, forwarded: list[str]) -> list[int]:
        with TestClient(app, client=proxy) as client:
            return [
                client.post("/auth/token", data=wrong, headers={"X-Forwarded-For": hop}).status_code
                for hop in forwarded
            ]

    # Untrusted: a made-up address per guess does not escape the throttle.
    made_up = [f"198.51.100.{n}" for n in range(1, 6)]
    assert statuses(clocked_app(settings)[0], made_up) == [401, 401, 401, 429, 429]
    # Trusted proxy: the client it names is the address throttled, one per client.
    trusting = settings.model_copy(update={"trusted_proxies": f"{proxy[0]}/32, 192.0.2.0/24"})
    others = [f"203.0.113.{n}, 192.0.2.7" for n in range(1, 6)]
    assert statuses(clocked_app(trusting)[0], others) == [401] * 5


def test_forced_password_reset_ends_password_and_tokens(
    settings: Settings, role_env: dict[str, str]
) -> None:
    owner = add_user(settings)
    app = create_app(settings)
    with TestClient(app, client=client_address()) as client:
        old_token = sign_in(client, owner)
        assert client.get("/auth/me", headers=bearer(old_token)).status_code == 200
        for admin in client_for(settings):
            reset = admin.post(f"/users/{owner}/password-reset")
            assert reset.status_code == 200, reset.text
            assert admin.post(f"/users/{unique('nobody-')}/password-reset").status_code == 404
        code = reset.json()["reset_code"]
        # The old token and the old password stop working at once.
        assert client.get("/auth/me", headers=bearer(old_token)).status_code == 401
        assert attempt(client, owner, TEST_PASSWORD).status_code == 401
        new = {"username": owner, "reset_code": code, "new_password": "a brand new passphrase"}
        short = {**new, "new_password": "short"}
        assert client.post("/auth/password-reset", data=short).status_code == 422
        bad = {**new, "reset_code": "not the code at all"}
        assert client.post("/auth/password-reset", data=bad).status_code == 401
        assert client.post("/auth/password-reset", data=new).status_code == 200
        # The code works once.
        assert client.post("/auth/password-reset", data=new).status_code == 401
        sign_in(client, owner, "a brand new passphrase")
    # Only administrators force resets.
    for manager in client_for(settings, Role.COUNCIL_OFFICER, council_id=council(settings)):
        assert manager.post(f"/users/{owner}/password-reset").status_code == 403
    # And from the command line, audited.
    done = ecm(role_env, "users", "reset-password", owner)
    assert done.returncode == 0, done.stderr
    cli_code = done.stdout.strip().splitlines()[-1]
    with TestClient(app, client=client_address()) as client:
        assert attempt(client, owner, "a brand new passphrase").status_code == 401
        reset_again = {
            "username": owner,
            "reset_code": cli_code,
            "new_password": "third passphrase here",
        }
        assert client.post("/auth/password-reset", data=reset_again).status_code == 200
        sign_in(client, owner, "third passphrase here")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def council(settings: Settings) -> str:
    council_id = unique("C")
    engine = make_engine(settings, "tests", pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("insert into council (id, name) values (:id, 'Test Council')"),
                {"id": council_id},
            )
    finally:
        engine.dispose()
    return council_id


def test_passwords_are_verified_in_a_lower_priority_process_on_one_core() -> None:
    workers = PasswordWorkers(workers=1, queue_max=0, niceness=7, cpus=1)
    try:
        hashed = workers.hash("a long enough password")
        assert workers.verify(hashed, "a long enough password")
        assert not workers.verify(hashed, "not the password at all")
        assert not workers.verify(None, "unknown accounts cost a verification too")
        pid, niceness, cores = cast(tuple[int, int, set[int]], workers._run(worker_identity))
    finally:
        workers.close()
    assert pid != os.getpid()
    assert niceness >= os.nice(0) + 7 or niceness == 19
    if len(os.sched_getaffinity(0)) > 1:
        assert cores == {max(os.sched_getaffinity(0))}


def test_with_no_workers_passwords_are_verified_in_the_calling_thread() -> None:
    workers = PasswordWorkers(workers=0, queue_max=0, niceness=7)
    hashed = hash_password("a long enough password")
    assert workers.verify(hashed, "a long enough password")
    pid, _, _ = cast(tuple[int, int, set[int]], workers._run(worker_identity))
    assert pid == os.getpid()


def worker_identity() -> tuple[int, int, set[int]]:
    return os.getpid(), os.nice(0), os.sched_getaffinity(0)


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


WORKERS_SCRIPT = """
import os, sys, time
from api.auth.passwords import PasswordWorkers
workers = PasswordWorkers(workers=1, queue_max=0, niceness=5)
print(workers._run(os.getpid), flush=True)
time.sleep(600)
"""


def test_the_password_worker_ends_when_its_api_process_is_killed() -> None:
    """Killed outright (no shutdown, no atexit), the API leaves no hashing process behind."""
    api = subprocess.Popen(
        [sys.executable, "-c", WORKERS_SCRIPT], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert api.stdout is not None
        worker = int(api.stdout.readline())
        assert Path(f"/proc/{worker}").exists()
    finally:
        api.kill()
        api.wait(timeout=30)
    wait_until(lambda: not Path(f"/proc/{worker}").exists(), timeout_s=30, interval_s=0.2)

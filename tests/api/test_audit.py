"""The audit trail: one entry per successful authenticated request, a linear hash chain under
concurrency, tampering found at its position, and an API role that cannot rewrite history."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from api.app import create_app
from api.audit import chain, checkpoints
from api.audit import repository as audit_repository
from api.auth.roles import Role
from core.migrate import upgrade
from core.settings import Settings
from tests.api.api_support import add_user, client_address, client_for, sign_in
from tests.api.tenants import make_tenant
from tests.support.ids import unique
from tests.support.paths import ROOT


def entries_of(engine: Engine, actor: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("select * from audit_log where actor = :a order by id"), {"a": actor}
        ).mappings()
        return [dict(row) for row in rows]


def test_every_successful_read_writes_one_entry_and_refusals_none(
    settings: Settings, engine: Engine
) -> None:
    mine, theirs = make_tenant(engine), make_tenant(engine)
    username = add_user(settings, Role.PROVIDER_MANAGER, provider_id=mine.provider_id)
    address = client_address()
    reads = [
        f"/providers/{mine.provider_id}",
        f"/providers/{mine.provider_id}/visits",
        f"/providers/{mine.provider_id}/events?limit=10",
        f"/providers/{mine.provider_id}/carers",
        "/providers",
    ]
    refused = [f"/providers/{theirs.provider_id}/visits", "/service-users", "/quarantine"]
    with TestClient(create_app(settings), client=address) as client:
        client.headers["Authorization"] = f"Bearer {sign_in(client, username)}"
        answers = [client.get(path) for path in reads]
        assert all(a.status_code == 200 for a in answers)
        assert all(client.get(path).status_code in (403, 404) for path in refused)

    entries = entries_of(engine, username)
    assert len(entries) == len(reads)
    for entry, path, answer in zip(entries, reads, answers, strict=True):
        assert entry["action"] == "read"
        assert entry["method"] == "GET"
        assert entry["role"] == "provider_manager"
        assert entry["tenant"] == mine.provider_id
        assert f"{entry['path']}?{entry['query']}".rstrip("?") == path
        assert entry["client_addr"] == address[0]
        assert entry["request_id"] == answer.headers["x-request-id"]


def test_a_change_is_audited_as_a_change(settings: Settings, engine: Engine) -> None:
    username = add_user(settings)
    with TestClient(create_app(settings), client=client_address()) as client:
        client.headers["Authorization"] = f"Bearer {sign_in(client, username)}"
        response = client.post(
            "/registry/seed",
            json={"providers": [{"id": unique("P"), "name": "Audited Care"}]},
            headers={"X-Request-ID": "change-123"},
        )
    assert response.status_code == 200
    [entry] = entries_of(engine, username)
    assert (entry["action"], entry["method"], entry["path"]) == ("change", "POST", "/registry/seed")
    assert entry["request_id"] == "change-123"


def test_the_chain_stays_linear_under_concurrent_requests(
    settings: Settings, engine: Engine
) -> None:
    tenant = make_tenant(engine)
    signed_in = [
        client_for(settings, Role.PROVIDER_MANAGER, provider_id=tenant.provider_id)
        for _ in range(6)
    ]
    clients = [next(session) for session in signed_in]

    def browse(client: TestClient) -> list[int]:
        return [client.get(f"/providers/{tenant.provider_id}/visits").status_code for _ in range(8)]

    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = [s for batch in pool.map(browse, clients) for s in batch]
    finally:
        for session in signed_in:
            session.close()
    assert statuses == [200] * 48
    with engine.connect() as conn:
        result = chain.verify(conn)
        ids = [row[0] for row in conn.execute(text("select id from audit_log order by id"))]
    assert result.intact, result.first_break
    assert ids == list(range(1, len(ids) + 1))
    assert result.entries == len(ids)


def test_the_api_role_cannot_update_delete_or_truncate_the_audit_log(
    settings: Settings, engine: Engine
) -> None:
    for client in client_for(settings):
        assert client.get("/providers").status_code == 200
    api_engine = create_engine(settings.api_sqlalchemy_url)
    try:
        with api_engine.connect() as conn:
            user = conn.execute(text("select current_user")).scalar_one()
            assert conn.execute(text("select count(*) from audit_log")).scalar_one() > 0
            conn.rollback()
            for statement in [
                "update audit_log set actor = 'someone else'",
                "delete from audit_log",
                "truncate audit_log",
            ]:
                with pytest.raises(DBAPIError) as refused:
                    conn.execute(text(statement))
                conn.rollback()
                assert isinstance(refused.value.orig, psycopg.errors.InsufficientPrivilege)
    finally:
        api_engine.dispose()
    assert user == "ecm_api"
    # The owner is stopped too, by the trigger.
    with engine.connect() as conn, pytest.raises(DBAPIError) as refused:
        conn.execute(text("delete from audit_log where id = 1"))
    assert "append-only" in str(refused.value)


@pytest.fixture
def scratch(settings: Settings) -> Iterator[Settings]:
    """A database of its own: this test breaks the chain on purpose."""
    name = unique("ecm_audit_")
    admin_url = settings.database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    scratch = settings.model_copy(update={"database_url": admin_url.rsplit("/", 1)[0] + "/" + name})
    upgrade(scratch)
    yield scratch
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'drop database "{name}" with (force)')


def audit_verify(role_env: dict[str, str], scratch: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecm", "audit", "verify"],
        env={**role_env, "ECM_DATABASE_URL": scratch.database_url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def tamper(scratch: Settings, statement: str) -> None:
    with psycopg.connect(scratch.database_url, autocommit=True) as conn:
        conn.execute("alter table audit_log disable trigger audit_log_append_only")
        conn.execute(statement)
        conn.execute("alter table audit_log enable trigger audit_log_append_only")


@pytest.mark.parametrize(
    ("statement", "broken_at", "reason"),
    [
        ("update audit_log set path = '/quarantine' where id = 4", 4, "altered"),
        ("update audit_log set actor = 'someone-else' where id = 2", 2, "altered"),
        ("delete from audit_log where id = 3", 3, "missing"),
        (
            "update audit_log set prev_hash = (select hash from audit_log where id = 1), "
            "hash = (select hash from audit_log where id = 2) where id = 5",
            5,
            "previous hash",
        ),
    ],
)
def test_ecm_audit_verify_names_the_first_tampered_entry(
    scratch: Settings, role_env: dict[str, str], statement: str, broken_at: int, reason: str
) -> None:
    for client in client_for(scratch):
        for _ in range(6):
            assert client.get("/providers").status_code == 200
    intact = audit_verify(role_env, scratch)
    assert intact.returncode == 0, intact.stderr
    assert "intact: 6 entries" in intact.stdout

    tamper(scratch, statement)
    broken = audit_verify(role_env, scratch)
    assert broken.returncode == 1
    assert f"broken at entry {broken_at}:" in broken.stdout
    assert reason in broken.stdout


def audit_command(
    role_env: dict[str, str], scratch: Settings, key_dir: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecm", "audit", *args],
        env={
            **role_env,
            "ECM_DATABASE_URL": scratch.database_url,
            "ECM_AUDIT_KEY_DIR": str(key_dir),
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def browse(scratch: Settings, reads: int) -> None:
    for client in client_for(scratch):
        for _ in range(reads):
            assert client.get("/providers").status_code == 200


def test_a_tail_cut_after_a_checkpoint_is_detected(
    scratch: Settings, role_env: dict[str, str], tmp_path: Path
) -> None:
    browse(scratch, 6)
    # Without a checkpoint the chain alone cannot tell: cutting the last entry goes unseen.
    tamper(scratch, "delete from audit_log where id = 6")
    unseen = audit_command(role_env, scratch, tmp_path, "verify")
    assert unseen.returncode == 0 and "intact: 5 entries" in unseen.stdout
    assert "no signed checkpoints" in unseen.stderr

    written = audit_command(role_env, scratch, tmp_path, "checkpoint")
    assert written.returncode == 0, written.stderr
    checkpoint = json.loads(written.stdout)
    assert (checkpoint["kind"], checkpoint["entries"]) == ("head", 5)
    assert (tmp_path / "checkpoint.key").stat().st_mode & 0o777 == 0o600
    browse(scratch, 3)  # entries 6 to 8 after the checkpoint
    intact = audit_command(role_env, scratch, tmp_path, "verify")
    assert intact.returncode == 0, intact.stdout
    assert "intact: 8 entries, 1 signed checkpoints" in intact.stdout

    # Cutting back to before the checkpoint is seen, wherever the cut ends.
    tamper(scratch, "delete from audit_log where id >= 4")
    cut = audit_command(role_env, scratch, tmp_path, "verify")
    assert cut.returncode == 1
    assert "broken at entry 4" in cut.stdout
    assert "entries 4 to 5 were removed from the end" in cut.stdout


def test_the_checkpoint_file_keeps_what_the_database_loses(
    scratch: Settings, role_env: dict[str, str], tmp_path: Path
) -> None:
    browse(scratch, 4)
    assert audit_command(role_env, scratch, tmp_path, "checkpoint").returncode == 0
    with psycopg.connect(scratch.database_url, autocommit=True) as conn:
        conn.execute("alter table audit_checkpoint disable trigger audit_checkpoint_append_only")
        conn.execute("delete from audit_checkpoint")
        conn.execute("alter table audit_checkpoint enable trigger audit_checkpoint_append_only")
    tamper(scratch, "delete from audit_log where id = 4")
    cut = audit_command(role_env, scratch, tmp_path, "verify")
    assert cut.returncode == 1
    assert "entries 4 to 4 were removed from the end" in cut.stdout


def test_a_rewritten_and_rehashed_chain_differs_from_its_checkpoint(
    scratch: Settings, role_env: dict[str, str], tmp_path: Path
) -> None:
    browse(scratch, 4)
    assert audit_command(role_env, scratch, tmp_path, "checkpoint").returncode == 0
    # What a superuser could do: edit entry 2 and recompute every hash after it.
    engine = create_engine(scratch.sqlalchemy_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("alter table audit_log disable trigger audit_log_append_only"))
            conn.execute(text("update audit_log set path = '/quarantine' where id = 2"))
            prev = chain.GENESIS
            for *fields, _, _ in list(audit_repository.rows(conn)):
                entry = chain.AuditEntry(*fields)
                new_hash = chain.entry_hash(prev, entry)
                conn.execute(
                    text("update audit_log set prev_hash = :p, hash = :h where id = :id"),
                    {"p": prev, "h": new_hash, "id": entry.id},
                )
                prev = new_hash
            conn.execute(text("alter table audit_log enable trigger audit_log_append_only"))
            assert chain.verify(conn).intact  # the chain alone is fooled
    finally:
        engine.dispose()
    rewritten = audit_command(role_env, scratch, tmp_path, "verify")
    assert rewritten.returncode == 1
    assert "broken at entry 4" in rewritten.stdout
    assert "differs from the checkpoint" in rewritten.stdout


def test_a_forged_checkpoint_is_reported(
    scratch: Settings, role_env: dict[str, str], tmp_path: Path
) -> None:
    browse(scratch, 2)
    assert audit_command(role_env, scratch, tmp_path, "checkpoint").returncode == 0
    forged = checkpoints.sign(Ed25519PrivateKey.generate(), datetime.now(UTC), "head", 2, "ab" * 32)
    with psycopg.connect(scratch.database_url, autocommit=True) as conn:
        conn.execute(
            "insert into audit_checkpoint (at, kind, entries, head_hash, key_id, signature) "
            "values (%s, %s, %s, %s, %s, %s)",
            (forged.at, forged.kind, forged.entries, forged.head_hash, forged.key_id,
             forged.signature),
        )  # fmt: skip
    reported = audit_command(role_env, scratch, tmp_path, "verify")
    assert reported.returncode == 1
    assert "has no valid signature" in reported.stdout

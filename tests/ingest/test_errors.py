"""The store's error classes, on errors the real PostgreSQL raises.

tests/faults/test_store_errors.py shows what ingest does with each during a burst."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from core.settings import Settings
from ingest.errors import ErrorClass, classify
from tests.support.ids import unique


@pytest.fixture(scope="module")
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.database_url, autocommit=True) as connection:
        yield connection


def raised(conn: psycopg.Connection, sqlstate: str, **using: str) -> psycopg.Error:
    options = "".join(f", {name} = '{value}'" for name, value in using.items())
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(
            f"do $$ begin raise exception 'refused' using errcode = '{sqlstate}'{options}; end $$"
        )
    assert caught.value.sqlstate == sqlstate
    return caught.value


@pytest.mark.parametrize(
    "sqlstate",
    [
        "08006",
        "08003",
        "57P01",
        "25006",
        "53100",
        "53200",
        "42501",
        "40001",
        "40P01",
        "55P03",
        "57014",
        "42P01",
        "XX000",
        "P0001",
    ],
)
def test_passing_faults_and_unknown_errors_are_transient(
    conn: psycopg.Connection, sqlstate: str
) -> None:
    assert classify(raised(conn, sqlstate)).kind is ErrorClass.TRANSIENT


@pytest.mark.parametrize("sqlstate", ["22003", "22P02", "22001", "22007"])
def test_a_data_exception_is_the_rows_own(conn: psycopg.Connection, sqlstate: str) -> None:
    fault = classify(raised(conn, sqlstate))
    assert fault.kind is ErrorClass.ROW_DATA
    assert fault.detail == f"SQLSTATE {sqlstate}: refused"


@pytest.mark.parametrize(
    ("sqlstate", "table", "constraint"),
    [
        ("23514", "device_event_2026_12", "device_event_evidence_level_check"),
        ("23502", "device_event", ""),
        ("23505", "tag_tap", "tag_tap_pkey"),
    ],
)
def test_an_integrity_violation_off_the_dedup_keys_is_the_rows_own(
    conn: psycopg.Connection, sqlstate: str, table: str, constraint: str
) -> None:
    error = raised(conn, sqlstate, table=table, constraint=constraint)
    assert classify(error).kind is ErrorClass.ROW_DATA


@pytest.mark.parametrize(
    ("table", "constraint"),
    [
        ("device_sequence", "device_sequence_pkey"),
        ("device_event_2026_12", "device_event_2026_12_pkey"),
        ("_hyper_1_4_chunk", "4_8_device_event_pkey"),
    ],
)
def test_a_unique_violation_on_a_dedup_key_is_a_race(
    conn: psycopg.Connection, table: str, constraint: str
) -> None:
    error = raised(conn, "23505", table=table, constraint=constraint)
    assert classify(error).kind is ErrorClass.DEDUP_RACE


def test_a_real_second_holder_of_a_seq_is_a_race(conn: psycopg.Connection) -> None:
    device = unique("ERRD")
    insert = "insert into device_sequence (device_id, seq, event_id) values (%s, 1, %s)"
    conn.execute(insert, (device, uuid.uuid4()))
    with pytest.raises(psycopg.errors.UniqueViolation) as caught:
        conn.execute(insert, (device, uuid.uuid4()))
    assert classify(caught.value).kind is ErrorClass.DEDUP_RACE


def test_a_real_violation_of_another_tables_key_is_the_rows_own(conn: psycopg.Connection) -> None:
    conn.execute("create temporary table probe (k int primary key)")
    conn.execute("insert into probe values (1)")
    with pytest.raises(psycopg.errors.UniqueViolation) as caught:
        conn.execute("insert into probe values (1)")
    assert classify(caught.value).kind is ErrorClass.ROW_DATA


def test_an_error_that_is_not_the_databases_is_transient() -> None:
    assert classify(OSError("connection reset")).kind is ErrorClass.TRANSIENT

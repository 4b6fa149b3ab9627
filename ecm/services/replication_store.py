"""The SQL of the local replicated PostgreSQL's set-up (ecm/services/standby.py)."""

from __future__ import annotations

import psycopg


def prepare_primary(conn: psycopg.Connection, database: str, slot: str) -> None:
    """The database and the standby's physical replication slot, each made once.

    Until the standby streams, a commit on the primary would wait for it: these set-up
    statements ask for a local commit only.
    """
    conn.execute("set synchronous_commit = local")
    if not conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone():
        conn.execute(f'create database "{database}"')
    if not conn.execute(
        "select 1 from pg_replication_slots where slot_name = %s", (slot,)
    ).fetchone():
        conn.execute("select pg_create_physical_replication_slot(%s, true)", (slot,))


def standby_state(conn: psycopg.Connection, standby_name: str) -> str | None:
    """`sync` once the primary counts the standby as synchronous."""
    row = conn.execute(
        "select sync_state from pg_stat_replication where application_name = %s",
        (standby_name,),
    ).fetchone()
    return str(row[0]) if row else None

"""Database connections. Every role names its connections so pg_stat_activity tells them apart."""

from __future__ import annotations

import time

import psycopg
from sqlalchemy import Engine, create_engine

from core.settings import Settings, to_sqlalchemy_url


def connect(settings: Settings, role: str, *, autocommit: bool = False) -> psycopg.Connection:
    return psycopg.connect(
        settings.database_url, application_name=f"ecm.{role}", autocommit=autocommit
    )


def make_engine(
    settings: Settings, role: str, *, pool_size: int = 5, url: str | None = None
) -> Engine:
    return create_engine(
        url or to_sqlalchemy_url(settings.database_url),
        pool_size=pool_size,
        pool_pre_ping=True,
        # Fail a request in seconds, not minutes, when the database host is unreachable.
        connect_args={"application_name": f"ecm.{role}", "connect_timeout": 5},
    )


def wait_for_database(settings: Settings, *, timeout_s: float = 30.0) -> None:
    """Start-up step: the database may still be coming up when a role starts."""
    deadline = time.monotonic() + timeout_s
    delay = 0.1
    while True:
        try:
            with connect(settings, "wait", autocommit=True) as conn:
                conn.execute("select 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

"""All health SQL."""

from __future__ import annotations

from sqlalchemy import Connection, text


def ping(conn: Connection) -> None:
    conn.execute(text("select 1")).scalar_one()

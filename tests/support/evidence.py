"""What ingest left in the store, read back for assertions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text


def stored_events(engine: Engine, device_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("select * from device_event where device_id = :d order by seq"), {"d": device_id}
        ).mappings()
        return [dict(row) for row in rows]


def quarantined(engine: Engine, **where: str) -> list[dict[str, Any]]:
    clauses = " and ".join(f"{column} = :{column}" for column in where) or "true"
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"select * from quarantined_message where {clauses} order by id"), where
        ).mappings()
        return [dict(row) for row in rows]

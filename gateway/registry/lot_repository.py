"""All SQL of lots and their lineups (lot, lot_lineup, lot_member). Callers own the
transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, text

from gateway.registry.schemas import Lot

_LINEUPS = (
    "select u.council_id, u.lot_id, l.name, u.effective_from, m.provider_id, m.role, m.position "
    "from lot_lineup u join lot l on l.council_id = u.council_id and l.id = u.lot_id "
    "left join lot_member m on m.council_id = u.council_id and m.lot_id = u.lot_id "
    "and m.effective_from = u.effective_from "
)
_ROLE_ORDER = {"lead": 0, "additional": 1, "dps": 2}


def _lots(rows: Sequence[Any]) -> list[Lot]:
    grouped: dict[tuple[str, str, date], tuple[str, list[tuple[str, str, int]]]] = {}
    for council_id, lot_id, name, effective_from, provider_id, role, position in rows:
        _, members = grouped.setdefault((council_id, lot_id, effective_from), (name, []))
        if provider_id is not None:
            members.append((provider_id, role, position))
    found = []
    for (council_id, lot_id, effective_from), (name, members) in grouped.items():
        members.sort(key=lambda m: (_ROLE_ORDER[m[1]], m[2]))
        found.append(
            Lot(
                council_id=council_id,
                id=lot_id,
                name=name,
                effective_from=effective_from,
                lead=next((p for p, role, _ in members if role == "lead"), None),
                additional=[p for p, role, _ in members if role == "additional"],
                dps=[p for p, role, _ in members if role == "dps"],
            )
        )
    return found


def upsert_lot(conn: Connection, council_id: str, lot_id: str, name: str) -> None:
    conn.execute(
        text(
            "insert into lot (council_id, id, name) values (:c, :l, :n) "
            "on conflict (council_id, id) do update set name = excluded.name"
        ),
        {"c": council_id, "l": lot_id, "n": name},
    )


def lock_lot(conn: Connection, council_id: str, lot_id: str) -> None:
    """Serialise changes to one lot's lineups (two officers setting the same date at once)."""
    conn.execute(
        text("select 1 from lot where council_id = :c and id = :l for update"),
        {"c": council_id, "l": lot_id},
    )


def lineups(conn: Connection, council_id: str, lot_id: str | None = None) -> list[Lot]:
    """Every lineup of the council's lots (or of one lot), by lot and date."""
    rows = conn.execute(
        text(
            _LINEUPS + "where u.council_id = :c and (cast(:l as text) is null or u.lot_id = :l) "
            "order by u.lot_id, u.effective_from"
        ),
        {"c": council_id, "l": lot_id},
    ).all()
    return _lots(rows)


def lineup_at(conn: Connection, council_id: str, lot_id: str, effective_from: date) -> Lot | None:
    """The lineup that starts exactly on `effective_from`, if one does."""
    rows = conn.execute(
        text(_LINEUPS + "where u.council_id = :c and u.lot_id = :l and u.effective_from = :d"),
        {"c": council_id, "l": lot_id, "d": effective_from},
    ).all()
    found = _lots(rows)
    return found[0] if found else None


def lineup_on(conn: Connection, council_id: str, lot_id: str, day: date) -> Lot | None:
    """The lineup in force on `day`: the latest to start on or before it."""
    rows = conn.execute(
        text(
            _LINEUPS + "where u.council_id = :c and u.lot_id = :l and u.effective_from = "
            "(select max(effective_from) from lot_lineup where council_id = :c "
            "and lot_id = :l and effective_from <= :d)"
        ),
        {"c": council_id, "l": lot_id, "d": day},
    ).all()
    found = _lots(rows)
    return found[0] if found else None


def lot_exists(conn: Connection, council_id: str, lot_id: str) -> bool:
    return (
        conn.execute(
            text("select 1 from lot where council_id = :c and id = :l"),
            {"c": council_id, "l": lot_id},
        ).first()
        is not None
    )


def lot_ids(conn: Connection, council_id: str) -> list[str]:
    return list(
        conn.execute(
            text("select id from lot where council_id = :c order by id"), {"c": council_id}
        ).scalars()
    )


def replace_lineup(conn: Connection, lot: Lot, set_by: str, now: datetime) -> None:
    """Write `lot`'s lineup from its date, replacing one that started that same day."""
    key = {"c": lot.council_id, "l": lot.id, "d": lot.effective_from}
    conn.execute(
        text(
            "delete from lot_lineup where council_id = :c and lot_id = :l and effective_from = :d"
        ),
        key,
    )
    conn.execute(
        text(
            "insert into lot_lineup (council_id, lot_id, effective_from, set_by, set_at) "
            "values (:c, :l, :d, :by, :at)"
        ),
        {**key, "by": set_by, "at": now},
    )
    members = (("lead", [lot.lead] if lot.lead else []), ("additional", lot.additional))
    rows = [
        {**key, "p": provider_id, "r": role, "n": position}
        for role, providers in (*members, ("dps", lot.dps))
        for position, provider_id in enumerate(providers, start=1)
    ]
    if rows:
        conn.execute(
            text(
                "insert into lot_member (council_id, lot_id, effective_from, provider_id, role, "
                "position) values (:c, :l, :d, :p, :r, :n)"
            ),
            rows,
        )


def ensure_commissions(conn: Connection, council_id: str, provider_ids: Sequence[str]) -> None:
    """A provider in a council's lot is commissioned by that council (so the council's officers
    see its visits); an existing commission keeps its lot."""
    if provider_ids:
        conn.execute(
            text(
                "insert into commission (council_id, provider_id) values (:c, :p) "
                "on conflict (council_id, provider_id) do nothing"
            ),
            [{"c": council_id, "p": p} for p in provider_ids],
        )


def unknown_providers(conn: Connection, provider_ids: Sequence[str]) -> list[str]:
    known = set(
        conn.execute(
            text("select id from provider where id = any(:ids)"), {"ids": list(provider_ids)}
        ).scalars()
    )
    return [p for p in provider_ids if p not in known]

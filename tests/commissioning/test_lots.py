"""Lots and their lineups: seeded from the registry file, set by council officers, effective-
dated, with history kept; and the cascade follows the lineup in force on the day."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, text

from commissioning import lots
from commissioning.views import LotLineup
from core.errors import Conflict, Forbidden, NotFound, Unprocessable
from gateway.registry import Council, Lot, Provider, RegistryDocument, RegistryError, seed
from gateway.registry.lot_repository import lineup_on
from tests.commissioning.support import LotWorld, lot_world
from tests.support.access import officer
from tests.support.ids import unique

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def test_seeding_lots_is_idempotent_and_commissions_their_providers(engine: Engine) -> None:
    council, lead, extra = unique("LA"), unique("P"), unique("P")
    document = RegistryDocument(
        councils=[Council(id=council, name="Council")],
        providers=[Provider(id=lead, name="Lead Care"), Provider(id=extra, name="Extra Care")],
        lots=[
            Lot(
                council_id=council,
                id="north",
                name="North",
                effective_from=date(2026, 1, 5),
                lead=lead,
                additional=[extra],
            )
        ],
    )
    with engine.begin() as conn:
        first = seed(conn, document, now=NOW)
        second = seed(conn, document, now=NOW)
        commissioned = set(
            conn.execute(
                text("select provider_id from commission where council_id = :c"), {"c": council}
            ).scalars()
        )
        in_force = lineup_on(conn, council, "north", NOW.date())
    assert first.lots == second.lots == 1
    assert commissioned == {lead, extra}
    assert in_force is not None and (in_force.lead, in_force.additional) == (lead, [extra])

    # Changing the lineup of a date already in force is refused; a later date is the way.
    changed = document.model_copy(
        update={"lots": [document.lots[0].model_copy(update={"lead": extra, "additional": [lead]})]}
    )
    with engine.begin() as conn, pytest.raises(RegistryError, match="in force or past"):
        seed(conn, changed, now=NOW)


def test_a_lot_names_each_provider_once_and_only_known_ones(engine: Engine) -> None:
    with pytest.raises(ValueError, match="named twice"):
        Lot(council_id="LA", id="x", name="X", effective_from=date(2026, 1, 1), lead="P", dps=["P"])
    council = unique("LA")
    document = RegistryDocument(
        councils=[Council(id=council, name="Council")],
        lots=[
            Lot(
                council_id=council,
                id="x",
                name="X",
                effective_from=date(2026, 1, 1),
                lead="P-nobody",
            )
        ],
    )
    with engine.begin() as conn, pytest.raises(RegistryError, match="unknown provider"):
        seed(conn, document, now=NOW)


def test_an_officer_sets_a_new_lineup_from_a_date_and_the_cascade_follows_it(
    engine: Engine,
) -> None:
    world: LotWorld = lot_world(engine)
    a1, a2 = world.additional
    # From 1 April, A1 leads and the old lead becomes an additional provider.
    april = LotLineup(
        name="North",
        effective_from=date(2026, 4, 1),
        lead=a1,
        additional=[world.lead, a2],
        dps=list(world.dps),
    )
    with engine.begin() as conn:
        result = lots.set_lot(conn, world.officer, world.council_id, world.lot_id, april, now=NOW)
        again = lots.set_lot(conn, world.officer, world.council_id, world.lot_id, april, now=NOW)
    assert result.changed and not again.changed
    assert [lineup.effective_from for lineup in result.lot.lineups] == [
        date(2026, 1, 5),
        date(2026, 4, 1),
    ]
    assert result.lot.in_force is not None and result.lot.in_force.lead == world.lead

    # Until April the lead is still offered first; from April, A1.
    march_request = world.request(NOW)
    april_now = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    april_request = world.request(april_now)
    assert [o["provider_id"] for o in world.offers(march_request)] == [world.lead]
    assert [o["provider_id"] for o in world.offers(april_request)] == [a1]

    # The April lineup may still be replaced before April; not once it is in force.
    replaced = april.model_copy(update={"dps": [world.dps[1]]})
    with engine.begin() as conn:
        assert lots.set_lot(
            conn, world.officer, world.council_id, world.lot_id, replaced, now=NOW
        ).changed
    with engine.begin() as conn, pytest.raises(Conflict):
        lots.set_lot(conn, world.officer, world.council_id, world.lot_id, april, now=april_now)


def test_lots_belong_to_their_council(engine: Engine) -> None:
    world = lot_world(engine)
    stranger = officer(unique("LA"))
    with engine.begin() as conn, pytest.raises(NotFound):
        lots.get_lot(conn, stranger, world.council_id, world.lot_id, now=NOW)
    with engine.begin() as conn, pytest.raises(NotFound):
        lots.get_lot(conn, world.officer, world.council_id, "no-such-lot", now=NOW)
    body = LotLineup(name="N", effective_from=date(2027, 1, 1), lead="P-unknown")
    with engine.begin() as conn, pytest.raises(Unprocessable, match="unknown provider"):
        lots.set_lot(conn, world.officer, world.council_id, world.lot_id, body, now=NOW)
    manager = world.manager(world.lead)
    with engine.begin() as conn, pytest.raises(Forbidden):
        lots.list_lots(conn, manager, world.council_id, now=NOW)

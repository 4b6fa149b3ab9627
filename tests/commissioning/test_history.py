"""A request's history is append-only for the API: its database role may add steps and read
them, never change or remove one (as for the audit trail)."""

from __future__ import annotations

from datetime import datetime

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from commissioning.model import LONDON
from core.settings import Settings
from tests.commissioning.support import lot_world


def test_the_api_role_cannot_rewrite_a_requests_history(settings: Settings, engine: Engine) -> None:
    world = lot_world(engine)
    request_id = world.request(datetime(2026, 3, 4, 10, 0, tzinfo=LONDON))
    api_engine = create_engine(settings.api_sqlalchemy_url)
    try:
        with api_engine.connect() as conn:
            assert conn.execute(text("select current_user")).scalar_one() == "ecm_api"
            steps = conn.execute(
                text("select count(*) from service_request_event where request_id = :r"),
                {"r": request_id},
            ).scalar_one()
            assert steps == 2  # created, offered
            conn.rollback()
            for statement in (
                "update service_request_event set actor = 'someone else'",
                "delete from service_request_event",
                "truncate service_request_event",
            ):
                with pytest.raises(DBAPIError) as refused:
                    conn.execute(text(statement))
                conn.rollback()
                assert isinstance(refused.value.orig, psycopg.errors.InsufficientPrivilege)
    finally:
        api_engine.dispose()
    assert world.events(request_id) == [("created", None), ("offered", world.lead)]

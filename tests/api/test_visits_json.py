"""The visit list's JSON, built by PostgreSQL, is the document pydantic would write."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from core.settings import Settings
from tests.api.portal_world import portal_day
from tests.visits.support import IN, OUT, store
from visits import builder
from visits import read_store as repository

ANCHOR = datetime(2026, 6, 10, 11, 0, tzinfo=UTC)


def test_the_database_writes_the_same_visit_json_as_the_models(
    engine: Engine, settings: Settings
) -> None:
    day = portal_day(engine, ANCHOR)
    # A second carer joins the on-time visit at odd microseconds, then leaves a stay open.
    second = day.world.add_handset()
    store(engine, second, day.home, IN, ANCHOR - timedelta(minutes=55, microseconds=-123400))
    store(engine, second, day.home, OUT, ANCHOR - timedelta(minutes=31, microseconds=-5))
    # Heard of hours later: an anomaly on the visit.
    store(
        engine,
        second,
        day.missed_home,
        IN,
        ANCHOR - timedelta(minutes=1),
        received_at=ANCHOR + timedelta(hours=5),
    )
    provider = day.world.provider_id

    with engine.begin() as conn:
        builder.refresh(conn, settings, now=ANCHOR + timedelta(days=1))
        models = repository.list_visits(conn, provider, limit=100, offset=0)
        texts = repository.list_visits_json(conn, provider, limit=100, offset=0)

    assert len(models) >= 4
    assert any(len(visit.carers) == 2 for visit in models)
    assert any(visit.anomalies for visit in models)
    assert any(visit.check_in is None for visit in models)
    assert any(
        stay.check_in is not None and stay.check_in.microsecond
        for visit in models
        for stay in visit.carers
    )
    assert [json.loads(text) for text in texts] == [
        json.loads(visit.model_dump_json()) for visit in models
    ]

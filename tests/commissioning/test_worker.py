"""`ecm requests run` on an injected clock: one pass expires what is due and offers the next
provider, rolls packages forward and delivers the webhook; and `ecm requests import` and
`export` at the command line."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine

from commissioning.cli import requests
from commissioning.model import LONDON
from commissioning.worker import RequestsWorker
from core.settings import Settings, get_settings
from tests.commissioning.support import lot_world
from tests.visits.alerts_support import Receiver
from visits.webhooks import register_endpoint

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=LONDON)


def test_a_pass_moves_an_expired_offer_on_and_tells_the_next_provider(
    engine: Engine, settings: Settings
) -> None:
    world = lot_world(engine, response_working_hours=1)
    first = world.additional[0]
    with Receiver(failures=0) as receiver:
        with engine.begin() as conn:
            register_endpoint(conn, settings, first, receiver.url)
        request_id = world.request(NOW)
        worker = RequestsWorker(settings, clock=lambda: NOW + timedelta(hours=1))
        try:
            worker.tick()
        finally:
            worker.close()
    offers = {o["provider_id"]: o["status"] for o in world.offers(request_id)}
    assert offers == {world.lead: "expired", first: "open"}
    bodies = [json.loads(body) for _, body, _ in receiver.requests]
    assert [(b["event"], b["request_id"]) for b in bodies if b["request_id"] == request_id] == [
        ("request.offered", request_id)
    ]


def test_import_and_export_at_the_command_line(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    world = lot_world(engine)
    home = world.add_home()
    path = tmp_path / "requests.csv"
    path.write_text(
        "request_ref,service_user_ref,lot_ref,start_date,end_date,days,start_time,minutes,"
        "carers,service_type,notes\n"
        f"CLI-{home},{home},{world.lot_id},2026-03-09,,daily,07:30,45,2,personal care,\n"
        f"CLI-BAD-{home},{home},{world.lot_id},2026-03-09,,daily,7.30,45,2,personal care,\n"
    )
    env = {
        "ECM_DATABASE_URL": settings.database_url,
        "ECM_STATE_DIR": str(settings.state_dir),
        "ECM_ENV": "test",
    }
    runner = CliRunner()
    # The commands read the environment's settings, once per process.
    get_settings.cache_clear()
    try:
        imported = runner.invoke(
            requests, ["import", str(path), "--council", world.council_id], env=env
        )
        assert imported.exit_code == 1, imported.output
        assert f"{path}:3: CLI-BAD-{home}: start_time is not HH:MM" in imported.output
        exported = runner.invoke(
            requests,
            [
                "export",
                "decisions",
                "--council",
                world.council_id,
                "--from",
                "2026-01-01",
                "--to",
                "2026-12-31",
            ],
            env=env,
        )
        assert exported.exit_code == 0, exported.output
        assert f"CLI-{home},{world.lot_id},{home}," in exported.output
        refused = runner.invoke(
            requests, ["import", str(path), "--council", "LA-no-such-council"], env=env
        )
        assert refused.exit_code == 2 and "not found" in refused.output
    finally:
        get_settings.cache_clear()

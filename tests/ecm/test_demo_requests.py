"""The demo's service requests on the test database: three requests, placed with the lead, with
an additional provider after the lead declined, and moved on past an expired deadline."""

from __future__ import annotations

import io

from rich.console import Console
from sqlalchemy import Engine

from core.settings import Settings
from ecm.demo_requests import place_requests
from tests.support.world import World


def test_three_requests_three_outcomes(engine: Engine, settings: Settings) -> None:
    world = World()
    council = world.council()
    providers = sorted(world.provider(council_id=council) for _ in range(4))
    for _ in range(3):
        world.home(council_id=council)
    world.seed(engine)

    table = place_requests(settings, council)
    out = io.StringIO()
    Console(file=out, width=400).print(table)
    lines = [line for line in out.getvalue().splitlines() if "SR-" in line]
    lead, first, second = providers[:3]
    assert len(lines) == 3
    assert f"placed with {lead} (lead)" in lines[0]
    assert f"declined {lead}" in lines[1] and f"placed with {first} (additional)" in lines[1]
    assert f"expired {lead}" in lines[2] and f"open: offered to {first}" in lines[2]
    assert second not in "".join(lines)

"""The simulated world: deterministic for a seed, and a rota a real provider could work."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from datetime import date, datetime, time
from itertools import pairwise
from pathlib import Path

import pytest

from firmware_sim.handset import Handset
from firmware_sim.world import LONDON, NORWICH, World, generate_world
from gateway.protocol import EventClaims, parse_compact, public_key_from_b64
from gateway.registry import RegistryDocument

DAY = date(2026, 3, 2)


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(7, day=DAY)


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    north = (a[0] - b[0]) * 111_320
    east = (a[1] - b[1]) * 111_320 * math.cos(math.radians(a[0]))
    return math.hypot(north, east)


def test_same_seed_gives_the_same_world() -> None:
    first = generate_world(11, day=DAY).model_dump_json()
    second = generate_world(11, day=DAY).model_dump_json()
    assert first == second


def test_different_seeds_give_different_worlds() -> None:
    first = generate_world(11, day=DAY)
    second = generate_world(12, day=DAY)
    assert first.model_dump_json() != second.model_dump_json()
    assert first.handsets[0].private_key != second.handsets[0].private_key
    assert first.service_users[0].tag_uid != second.service_users[0].tag_uid


def test_counts_and_ids(world: World) -> None:
    assert [p.id for p in world.providers] == ["P001", "P002", "P003", "P004"]
    assert [c.id for c in world.carers] == [f"C{i:04d}" for i in range(1, 16)]
    assert [h.device_id for h in world.handsets] == [f"D{i:04d}" for i in range(1, 16)]
    assert [su.id for su in world.service_users] == [f"SU{i:04d}" for i in range(1, 51)]
    assert [v.visit_ref for v in world.visits] == [f"V{i:05d}" for i in range(1, 201)]
    # One handset per carer, with the carer's provider.
    carers = {c.id: c for c in world.carers}
    assert {h.carer_id for h in world.handsets} == set(carers)
    for handset in world.handsets:
        assert carers[handset.carer_id].device_id == handset.device_id
        assert carers[handset.carer_id].provider_id == handset.provider_id


def test_carers_are_spread_evenly_over_providers(world: World) -> None:
    per_provider = Counter(c.provider_id for c in world.carers)
    assert max(per_provider.values()) - min(per_provider.values()) <= 1


def test_homes_are_near_the_area_with_tags(world: World) -> None:
    uids = [su.tag_uid for su in world.service_users if su.tag_uid]
    assert len(set(uids)) == len(uids)
    for su in world.service_users:
        assert _distance_m((su.home_lat, su.home_lon), NORWICH) <= 5_010
        assert su.geofence_m == 150
        if su.tag_uid is not None:
            assert len(su.tag_uid) == 14
            assert su.tag_uid == su.tag_uid.upper()
            bytes.fromhex(su.tag_uid)


def test_most_homes_have_a_tag_some_a_fob_the_rest_gps_only(world: World) -> None:
    kinds = Counter(su.home_device for su in world.service_users)
    assert kinds["tag"] > kinds["fob"] > 0 and kinds["none"] > 0
    assert sum(kinds.values()) == 50
    for su in world.service_users:
        has_tag = su.tag_uid is not None and su.tag_meta_read_key and su.tag_file_read_key
        assert bool(has_tag) == (su.home_device == "tag")
        assert (su.fob_secret is not None) == (su.home_device == "fob")
    sheet = world.home_devices_document()
    assert len(sheet.tags) == kinds["tag"] and len(sheet.fobs) == kinds["fob"]
    # Each tag has its own keys.
    assert len({t.file_read_key for t in sheet.tags}) == len(sheet.tags)


def test_visits_belong_to_the_service_users_provider(world: World) -> None:
    carers = {c.id: c for c in world.carers}
    for visit in world.visits:
        assert world.service_user(visit.service_user_id).provider_id == visit.provider_id
        assert len(visit.carer_ids) == visit.carers_required
        assert all(carers[c].provider_id == visit.provider_id for c in visit.carer_ids)
        assert visit.planned_minutes in (15, 30, 45, 60)
        assert visit.planned_start.tzinfo is not None
        local = visit.planned_start.astimezone(LONDON)
        assert local.date() == DAY
        assert local.time() >= time(7, 0)


def test_some_visits_are_double_handed_by_two_carers_of_the_provider(world: World) -> None:
    doubles = [v for v in world.visits if v.carers_required == 2]
    assert 0 < len(doubles) < len(world.visits) * 0.15
    for visit in doubles:
        assert len(set(visit.carer_ids)) == 2


def test_no_carer_is_in_two_homes_at_once(world: World) -> None:
    rounds: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for visit in world.visits:
        for carer in visit.carer_ids:
            rounds[carer].append((visit.planned_start, visit.planned_end))
    assert set(rounds) == {c.id for c in world.carers}  # everyone works the morning
    for carer, spans in rounds.items():
        spans.sort()
        for (_, end), (next_start, _) in pairwise(spans):
            assert next_start > end, f"{carer} has overlapping visits"


def test_no_home_has_two_visits_at_once(world: World) -> None:
    homes: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for visit in world.visits:
        homes[visit.service_user_id].append((visit.planned_start, visit.planned_end))
    for spans in homes.values():
        spans.sort()
        for (_, end), (next_start, _) in pairwise(spans):
            assert next_start >= end


def test_a_rota_within_capacity_stays_in_the_morning() -> None:
    world = generate_world(3, providers=3, carers=30, service_users=60, visits=150, day=DAY)
    for visit in world.visits:
        local = visit.planned_start.astimezone(LONDON).time()
        assert time(7, 0) <= local < time(12, 0)
    # With room to spare, the lengths are not all squeezed to 15 minutes.
    assert len({v.planned_minutes for v in world.visits}) >= 3


def test_summer_time_is_london_time() -> None:
    world = generate_world(1, visits=20, day=date(2026, 7, 1))
    first = min(v.planned_start for v in world.visits)
    assert first.utcoffset() is not None
    assert first.astimezone(LONDON).hour == 7
    assert first.astimezone(LONDON).strftime("%z") == "+0100"


def test_id_prefix_keeps_worlds_apart() -> None:
    world = generate_world(
        1, providers=2, carers=3, service_users=4, visits=5, day=DAY, id_prefix="T9-"
    )
    ids = [p.id for p in world.providers] + [c.id for c in world.carers]
    ids += [h.device_id for h in world.handsets] + [su.id for su in world.service_users]
    ids += [v.visit_ref for v in world.visits]
    assert all(i.startswith("T9-") for i in ids)


def test_save_and_load_round_trip(world: World, tmp_path: Path) -> None:
    path = tmp_path / "world.json"
    world.save(path)
    loaded = World.load(path)
    assert loaded == world
    assert loaded.model_dump_json() == world.model_dump_json()
    saved = json.loads(path.read_text())["handsets"]
    assert [h["private_key"] for h in saved] == [h.private_key for h in world.handsets]
    assert [h.public_key() for h in loaded.handsets] == [h.public_key() for h in world.handsets]


def test_registry_document_has_no_private_keys(world: World) -> None:
    document = world.registry_document()
    assert isinstance(document, RegistryDocument)
    text = document.model_dump_json()
    assert "private" not in text
    for handset in world.handsets:
        assert handset.private_key not in text
    for su in world.service_users:
        for secret in (su.tag_meta_read_key, su.tag_file_read_key, su.fob_secret):
            assert secret is None or secret not in text
    assert len(document.providers) == 4
    assert len(document.carers) == 15
    assert len(document.devices) == 15
    assert len(document.service_users) == 50
    tags = {su.id: su.tag_uid for su in world.service_users}
    assert {su.id: su.home_tag_uid for su in document.service_users} == tags
    # The document validates as the server's seed file would.
    assert RegistryDocument.model_validate_json(text) == document


def test_every_registered_key_verifies_its_handsets_events(world: World) -> None:
    keys = {d.id: public_key_from_b64(d.public_key) for d in world.registry_document().devices}
    visit = world.visits[0]
    for carer in world.carers:
        event = Handset.for_carer(world, carer.id).check_in(visit, visit.planned_start)
        signed = parse_compact(event.payload)
        assert signed.kid == carer.device_id
        signed.verify(keys[signed.kid])
        claims = EventClaims.model_validate_json(signed.payload)
        assert claims == event.claims
        assert claims.carer_id == carer.id


def test_impossible_shapes_are_refused() -> None:
    with pytest.raises(ValueError):
        generate_world(1, providers=3, carers=2, day=DAY)
    with pytest.raises(ValueError):
        generate_world(1, providers=0, day=DAY)


def test_an_overbooked_rota_runs_past_noon_rather_than_double_book() -> None:
    world = generate_world(2, providers=1, carers=2, service_users=10, visits=60, day=DAY)
    assert max(v.planned_start for v in world.visits).astimezone(LONDON).time() >= time(12, 0)
    # Squeezed to the shortest calls, bar the last few once nothing is left to place.
    assert sum(v.planned_minutes == 15 for v in world.visits) >= 0.9 * len(world.visits)
    for carer in world.carers:
        round_ = world.visits_of(carer.id)
        for previous, current in pairwise(round_):
            assert current.planned_start > previous.planned_end

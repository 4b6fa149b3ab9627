"""Anomalies played on purpose, through the real broker and ingest, and found by the system."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from core.settings import Settings
from firmware_sim.anomalies import AnomalyKind, PlayedAnomaly, parse_kinds
from firmware_sim.morning import prepare_morning, publish_morning, simulate_morning
from firmware_sim.publisher import Uplink
from firmware_sim.world import World, generate_world
from gateway.evidence.keys import KeyRing
from gateway.homes import import_devices
from gateway.pki.identity import TlsIdentity
from gateway.protocol import EventType
from gateway.registry import seed
from tests.support.ids import unique
from tests.support.polling import wait_until
from visits.builder import build_day
from visits.schedule import import_schedule

DAY = date(2026, 3, 3)
ALL = list(AnomalyKind)


def _world(prefix: str = "") -> World:
    return generate_world(
        41, providers=2, carers=8, service_users=12, visits=40, day=DAY, id_prefix=prefix
    )


def _by_kind(played: list[PlayedAnomaly]) -> dict[AnomalyKind, list[PlayedAnomaly]]:
    found: dict[AnomalyKind, list[PlayedAnomaly]] = {k: [] for k in AnomalyKind}
    for p in played:
        found[p.kind].append(p)
    return found


def test_unknown_anomaly_names_are_refused() -> None:
    assert parse_kinds(["ghost_visit", "no_signal", "ghost_visit"]) == [
        AnomalyKind.GHOST_VISIT,
        AnomalyKind.NO_SIGNAL,
    ]
    with pytest.raises(ValueError, match="unknown anomaly 'teleport'"):
        parse_kinds(["teleport"])


def test_each_kind_is_played_on_a_few_visits_and_recorded() -> None:
    world = _world()
    morning = prepare_morning(
        world, late_share=0, dead_phone_share=0, anomalies=ALL, rng=random.Random(3)
    )
    played = _by_kind(morning.played)
    for kind in AnomalyKind:
        assert 1 <= len(played[kind]) <= 2, kind
    sent = {str(e.event_id): e for e in morning.events}
    ghosts = {p.visit_ref for p in played[AnomalyKind.GHOST_VISIT]}
    assert ghosts.isdisjoint(cv.visit.visit_ref for cv in morning.carer_visits)
    for p in played[AnomalyKind.BUDDY_PUNCHING]:
        for event_id in p.event_ids:
            claims = sent[event_id].claims
            assert claims.carer_id == p.carer_id and claims.device_id == p.device_id
            assert world.handset_for(p.carer_id).device_id != p.device_id
    for p in played[AnomalyKind.CLOCK_SET_BACK]:
        assert all(morning.clock_behind[e] == timedelta(hours=3) for e in p.event_ids)
    for p in played[AnomalyKind.CLONED_TAG]:
        [check_in] = p.event_ids
        tap = sent[check_in].claims.tag
        assert tap is not None
        assert sum(1 for e in morning.events if e.claims.tag == tap) == 2
    for p in played[AnomalyKind.DEAD_PHONE]:
        assert [sent[e].claims.type for e in p.event_ids] == [EventType.CHECK_IN]
    for p in played[AnomalyKind.NO_SIGNAL]:
        assert p.event_ids and all(e in morning.held_until for e in p.event_ids)
    by_carer = {(cv.carer_id, cv.visit.visit_ref): cv for cv in morning.carer_visits}
    for p in played[AnomalyKind.TWO_HOMES]:
        cv = by_carer[(p.carer_id, p.visit_ref)]
        later = [
            o for o in morning.carer_visits if o.carer_id == p.carer_id and o.arrived > cv.arrived
        ]
        assert later and min(o.arrived for o in later) < cv.left


class RecordingUplink:
    """Stands in for the MQTT uplink (the network boundary): records what is published."""

    outbox = None
    acked = 0

    def __init__(self) -> None:
        self.published: list[tuple[bytes, timedelta | None]] = []

    def keep(self, events: object) -> None:
        pass

    def publish(
        self,
        topic: str,
        payload: str | bytes,
        event_id: object = None,
        clock_behind: timedelta | None = None,
    ) -> None:
        self.published.append(
            (payload if isinstance(payload, bytes) else payload.encode(), clock_behind)
        )
        self.acked += 1

    def flush(self, timeout: float) -> bool:
        return True


def test_held_events_go_out_when_the_signal_returns() -> None:
    world = _world()
    morning = prepare_morning(
        world, late_share=0, dead_phone_share=0, anomalies=ALL, rng=random.Random(3)
    )
    assert morning.held_until
    uplink = RecordingUplink()
    result = publish_morning(world, morning, uplink)  # type: ignore[arg-type]
    assert result.anomalies == morning.played and result.all_acked
    order = {payload: i for i, (payload, _) in enumerate(uplink.published)}
    assert len(order) == len(morning.events)
    for event in morning.events:
        held_until = morning.held_until.get(str(event.event_id))
        if held_until is None:
            continue
        # Published after every event signed before the signal came back, none held excepted.
        before = [
            e
            for e in morning.events
            if e.claims.device_time < held_until
            and str(e.event_id) not in morning.held_until
            and str(e.event_id) not in morning.clock_behind
        ]
        assert all(order[event.payload] > order[e.payload] for e in before)
    behind = [c for _, c in uplink.published if c is not None]
    assert behind == [timedelta(hours=3)] * len(morning.clock_behind)


@pytest.mark.integration
@pytest.mark.usefixtures("ingest_worker")
def test_the_system_detects_exactly_the_anomalies_played(
    settings: Settings,
    engine: Engine,
    provision: Callable[[list[str]], dict[str, TlsIdentity]],
) -> None:
    world = _world(unique("AN") + "-")
    council = unique("LA")
    with engine.begin() as conn:
        seed(conn, world.registry_document(council))
        import_devices(conn, KeyRing(settings.master_key), world.home_devices_document())
        report = import_schedule(conn, world.schedule_csv(), source="test", imported_by="test")
        assert report.created == len(world.visits) and not report.errors
    devices = sorted(h.device_id for h in world.handsets)
    identities = provision(devices)
    with Uplink(
        settings.mqtt_host, settings.mqtt_port, device_identity=identities.__getitem__
    ) as uplink:
        result = simulate_morning(
            world, uplink, late_share=0, dead_phone_share=0, anomalies=ALL, seed=3
        )
    assert result.all_acked
    count = text(
        "select (select count(*) from device_event where device_id = any(:d)) + "
        "(select count(*) from quarantined_message where device_id = any(:d))"
    )

    def all_judged() -> bool:
        with engine.connect() as conn:
            return bool(conn.execute(count, {"d": devices}).scalar_one() >= result.events_sent)

    wait_until(all_judged, timeout_s=60)
    homes = [su.id for su in world.service_users]
    with engine.begin() as conn:
        build_day(conn, settings, DAY, now=datetime.now(UTC), service_user_ids=homes)
        quarantined: dict[str, str] = dict(
            conn.execute(
                text(
                    "select event_id::text, reason from quarantined_message "
                    "where device_id = any(:d)"
                ),
                {"d": devices},
            ).all()
        )
        status: dict[str, str] = dict(
            conn.execute(
                text(
                    "select planned_visit_ref, status from visit "
                    "where service_user_id = any(:h) and planned_visit_ref is not null"
                ),
                {"h": homes},
            ).all()
        )
        flagged = conn.execute(
            text(
                "select a.code, a.carer_id from visit_anomaly a join visit v on v.id = a.visit_id "
                "where v.service_user_id = any(:h)"
            ),
            {"h": homes},
        ).all()
        stored = {
            row.event_id: row
            for row in conn.execute(
                text(
                    "select event_id::text, device_time, received_at, late_arriving "
                    "from device_event where device_id = any(:d)"
                ),
                {"d": devices},
            )
        }

    played = _by_kind(result.anomalies)
    # Ingest refuses exactly the set-back clocks' events and the cloned taps, for those reasons.
    expected_quarantine = {
        e: "clock_skew" for p in played[AnomalyKind.CLOCK_SET_BACK] for e in p.event_ids
    }
    assert expected_quarantine
    for p in played[AnomalyKind.CLONED_TAG]:
        expected_quarantine.update(dict.fromkeys(p.event_ids, "tag_counter_replayed"))
    assert {e: r.replace("out_of_order", "replayed") for e, r in quarantined.items()} == (
        expected_quarantine
    )

    # Missed: the ghost visits, and the visits whose only events were refused (clock set back).
    missed = {ref for ref, s in status.items() if s == "missed"}
    assert missed == {
        p.visit_ref for p in played[AnomalyKind.GHOST_VISIT] + played[AnomalyKind.CLOCK_SET_BACK]
    }
    # Open: the dead phones; a cloned tap leaves only the check-out, an open stay too.
    for p in played[AnomalyKind.DEAD_PHONE]:
        assert status[p.visit_ref] == "open"

    # Buddy punching: the punched-in carer and the colleague whose handset did it, no one else.
    shared = {carer for code, carer in flagged if code == "handset_shared"}
    buddies = {
        next(h.carer_id for h in world.handsets if h.device_id == p.device_id)
        for p in played[AnomalyKind.BUDDY_PUNCHING]
    }
    assert shared == {p.carer_id for p in played[AnomalyKind.BUDDY_PUNCHING]} | buddies

    # One carer in two homes: those carers' overlapping visits, and no other carer's.
    assert {carer for code, carer in flagged if code == "carer_in_two_homes"} == {
        p.carer_id for p in played[AnomalyKind.TWO_HOMES]
    }

    # No signal: stored and marked late-arriving, received over an hour after signing. This
    # morning is in the past, so every event here is late-arriving: that the outbox held these
    # back is shown by the publish order (test_held_events_go_out_when_the_signal_returns).
    for p in played[AnomalyKind.NO_SIGNAL]:
        for event_id in p.event_ids:
            row = stored[event_id]
            assert row.late_arriving
            assert row.received_at - row.device_time >= timedelta(hours=1)
    # Late-arriving events are not the visits' clock anomaly: no device_clock_skew anywhere.
    assert not any(code == "device_clock_skew" for code, _ in flagged)

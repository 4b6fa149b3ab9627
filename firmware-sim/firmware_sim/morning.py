"""A simulated care morning: every carer works their round and their handset reports it.

Time is compressed: device times are the simulated morning's, and events go to the broker as
fast as it takes them, in device-time order, as if every phone published the moment it could.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from firmware_sim.handset import Handset, HomeDevices, SignedVisitEvent
from firmware_sim.outbox import Outbox
from firmware_sim.publisher import Uplink
from firmware_sim.world import PlannedVisit, World
from gateway.protocol import EventType

Progress = Callable[[int, int], None]

# Arrival relative to the planned start when on time, and how late a late carer is (minutes).
ON_TIME_MINUTES = (-4.0, 6.0)
LATE_MINUTES = (20.0, 45.0)
# How far a visit's real length strays from the planned one (minutes), and the least stay.
STAY_JITTER_MINUTES = (-3.0, 3.0)
SHORTEST_STAY = timedelta(minutes=5)
# A carer behind schedule still has to drive to the next home.
SHORTEST_DRIVE = timedelta(minutes=5)

_B64URL = string.ascii_letters + string.digits + "-_"


@dataclass(frozen=True)
class CarerVisit:
    """What one carer actually did for one planned visit."""

    visit: PlannedVisit
    carer_id: str
    arrived: datetime
    left: datetime
    late: bool
    dead_phone: bool  # the phone died during the visit: no check-out reaches the server


@dataclass(frozen=True)
class TamperedCopy:
    """A real event's token with one signature character changed, sent after the original."""

    after: int
    topic: str
    token: str


@dataclass(frozen=True)
class Morning:
    carer_visits: list[CarerVisit]
    events: list[SignedVisitEvent]
    tampered: list[TamperedCopy]

    @property
    def expected_complete(self) -> int:
        return sum(1 for cv in self.carer_visits if not cv.dead_phone)

    @property
    def expected_open(self) -> int:
        return sum(1 for cv in self.carer_visits if cv.dead_phone)


@dataclass(frozen=True)
class MorningResult:
    events_sent: int
    # PUBACKs for everything published this morning, tampered copies included.
    events_acked: int
    tampered_sent: int
    visits_planned: int
    expected_complete: int
    expected_open: int

    @property
    def all_acked(self) -> bool:
        return self.events_acked == self.events_sent + self.tampered_sent


def simulate_morning(
    world: World,
    uplink: Uplink,
    *,
    late_share: float = 0.1,
    dead_phone_share: float = 0.03,
    tampered: int = 0,
    on_progress: Progress | None = None,
    seed: int | None = None,
    flush_timeout: float = 60.0,
) -> MorningResult:
    """Work the world's morning and publish every handset's events through `uplink`.

    `seed` makes who is late, whose phone dies and the GPS jitter repeatable; event ids are
    always fresh. Returns once the broker has acknowledged everything or `flush_timeout` passed.
    """
    morning = prepare_morning(
        world,
        late_share=late_share,
        dead_phone_share=dead_phone_share,
        tampered=tampered,
        rng=random.Random(seed),
        outbox=uplink.outbox,
    )
    return publish_morning(world, morning, uplink, on_progress, flush_timeout)


def prepare_morning(
    world: World,
    *,
    late_share: float = 0.1,
    dead_phone_share: float = 0.03,
    tampered: int = 0,
    rng: random.Random | None = None,
    outbox: Outbox | None = None,
) -> Morning:
    """Everything the handsets will send, signed and in device-time order, without sending."""
    if not 0 <= late_share <= 1 or not 0 <= dead_phone_share <= 1:
        raise ValueError("late_share and dead_phone_share are shares between 0 and 1")
    if tampered < 0:
        raise ValueError("tampered is a count of events")
    rng = rng or random.Random()
    carer_visits = [
        cv
        for carer in world.carers
        for cv in work_round(world.visits_of(carer.id), carer.id, rng, late_share, dead_phone_share)
    ]
    events = sign_events(world, carer_visits, rng, outbox)
    return Morning(carer_visits, events, tamper_some(events, tampered, rng))


def work_round(
    round_: Sequence[PlannedVisit],
    carer_id: str,
    rng: random.Random,
    late_share: float,
    dead_phone_share: float,
) -> list[CarerVisit]:
    """One carer's morning. Lateness carries over: nobody arrives before leaving the last home."""
    done: list[CarerVisit] = []
    for visit in round_:
        late = rng.random() < late_share
        dead_phone = rng.random() < dead_phone_share
        offset = rng.uniform(*(LATE_MINUTES if late else ON_TIME_MINUTES))
        arrived = visit.planned_start + timedelta(minutes=offset)
        if done:
            previous = done[-1]
            drive = max(SHORTEST_DRIVE, visit.planned_start - previous.visit.planned_end)
            arrived = max(arrived, previous.left + drive)
        stay = timedelta(minutes=visit.planned_minutes + rng.uniform(*STAY_JITTER_MINUTES))
        left = arrived + max(SHORTEST_STAY, stay)
        done.append(CarerVisit(visit, carer_id, _to_ms(arrived), _to_ms(left), late, dead_phone))
    return done


def sign_events(
    world: World,
    carer_visits: Sequence[CarerVisit],
    rng: random.Random,
    outbox: Outbox | None = None,
) -> list[SignedVisitEvent]:
    """Sign in device-time order so each handset's seq rises with its clock."""
    due: list[tuple[datetime, EventType, CarerVisit]] = []
    for cv in carer_visits:
        due.append((cv.arrived, EventType.CHECK_IN, cv))
        if not cv.dead_phone:
            due.append((cv.left, EventType.CHECK_OUT, cv))
    due.sort(key=lambda d: (d[0], d[1] != EventType.CHECK_IN, d[2].carer_id))
    devices = HomeDevices.for_world(world, rng)
    handsets = {
        c.id: Handset.for_carer(world, c.id, rng=rng, devices=devices, outbox=outbox)
        for c in world.carers
    }
    events = []
    for at, type, cv in due:
        handset = handsets[cv.carer_id]
        if type is EventType.CHECK_IN:
            events.append(handset.check_in(cv.visit, at))
        else:
            events.append(handset.check_out(cv.visit, at))
    return events


def tamper_some(
    events: Sequence[SignedVisitEvent], count: int, rng: random.Random
) -> list[TamperedCopy]:
    if not events or count <= 0:
        return []
    if count <= len(events):
        chosen = rng.sample(range(len(events)), count)
    else:
        chosen = rng.choices(range(len(events)), k=count)
    return sorted(
        (TamperedCopy(i, events[i].topic, tamper(events[i].token, rng)) for i in chosen),
        key=lambda t: t.after,
    )


def tamper(token: str, rng: random.Random) -> str:
    """Change one character of the signature segment so the signature no longer verifies.

    Not the last character: of an 86-character Ed25519 signature its low 4 bits are padding,
    and a lenient decoder would read the same 64 bytes.
    """
    protected, payload, signature = token.split(".")
    position = rng.randrange(len(signature) - 1)
    replacement = rng.choice(_B64URL.replace(signature[position], ""))
    altered = signature[:position] + replacement + signature[position + 1 :]
    return f"{protected}.{payload}.{altered}"


def publish_morning(
    world: World,
    morning: Morning,
    uplink: Uplink,
    on_progress: Progress | None = None,
    flush_timeout: float = 60.0,
) -> MorningResult:
    total = len(morning.events) + len(morning.tampered)
    acked_before = uplink.acked
    # On disk before the first publish; each leaves the outbox once the broker has it.
    uplink.keep(morning.events)
    sent = 0
    tampered = iter(morning.tampered)
    pending = next(tampered, None)
    if on_progress:
        on_progress(0, total)
    for index, event in enumerate(morning.events):
        uplink.publish(event.topic, event.payload, event.event_id)
        sent += 1
        while pending is not None and pending.after == index:
            uplink.publish(pending.topic, pending.token)
            sent += 1
            pending = next(tampered, None)
        if on_progress:
            on_progress(sent, total)
    uplink.flush(flush_timeout)
    return MorningResult(
        events_sent=len(morning.events),
        events_acked=uplink.acked - acked_before,
        tampered_sent=len(morning.tampered),
        visits_planned=len(world.visits),
        expected_complete=morning.expected_complete,
        expected_open=morning.expected_open,
    )


def _to_ms(at: datetime) -> datetime:
    """Phones stamp events to the millisecond."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)

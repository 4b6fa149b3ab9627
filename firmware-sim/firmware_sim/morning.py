"""A simulated care morning: every carer works their round and their handset reports it.

Time is compressed: device times are the simulated morning's, and events go to the broker as
fast as it takes them, in device-time order, as if every phone published the moment it could.

With `landline_calls`, carers at homes with a landline and no tag or fob check in and out by
telephone instead: their calls are placed, in the same order, through a `phone` the caller
provides (the demo's is firmware_sim.telephony.TelephonyProvider against `ecm telephony`).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from firmware_sim.anomalies import (
    CLOCK_BEHIND,
    NO_SIGNAL_FOR,
    AnomalyKind,
    Fault,
    PlayedAnomaly,
    choose_faults,
)
from firmware_sim.handset import Handset, HomeDevices, SignedVisitEvent
from firmware_sim.outbox import Outbox
from firmware_sim.publisher import Uplink
from firmware_sim.world import PlannedVisit, World
from gateway.protocol import EventType, TagReading

Progress = Callable[[int, int], None]
# Places a call; True when the answer said the check-in or check-out was recorded.
Phone = Callable[["LandlineCall"], bool]

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
    fault: Fault | None = None  # an anomaly played on purpose (firmware_sim.anomalies)
    by_landline: bool = False  # checked in and out by calling from the home's landline


@dataclass(frozen=True)
class LandlineCall:
    """A carer calling from the home's landline to check in or out."""

    at: datetime
    type: EventType
    visit_ref: str
    carer_id: str
    caller: str  # the home's landline
    called: str  # the provider's number
    carer_number: str
    pin: str

    @property
    def keyed(self) -> list[str]:
        return [self.carer_number, self.pin]


@dataclass(frozen=True)
class TamperedCopy:
    """A real event's token with one signature character changed, sent after the original."""

    after: int
    topic: str
    token: str


# Anomalies whose events ingest refuses: their carer visits leave no stay (clock set back) or
# only a check-out (cloned tag at check-in).
_REFUSED_ENTIRELY = (AnomalyKind.CLOCK_SET_BACK,)
_REFUSED_CHECK_IN = (AnomalyKind.CLONED_TAG,)


@dataclass(frozen=True)
class Morning:
    carer_visits: list[CarerVisit]
    events: list[SignedVisitEvent]
    tampered: list[TamperedCopy]
    played: list[PlayedAnomaly] = field(default_factory=list)
    # Events whose handset clock is behind at transmission (their sent-at is wrong by this).
    clock_behind: dict[str, timedelta] = field(default_factory=dict)
    # Events a handset without signal keeps in its outbox until this device time has passed.
    held_until: dict[str, datetime] = field(default_factory=dict)
    # Check-ins and check-outs by telephone, in time order.
    calls: list[LandlineCall] = field(default_factory=list)

    @property
    def expected_complete(self) -> int:
        return sum(
            1
            for cv in self.carer_visits
            if not cv.dead_phone
            and not (cv.fault and cv.fault.kind in (*_REFUSED_ENTIRELY, *_REFUSED_CHECK_IN))
        )

    @property
    def expected_open(self) -> int:
        return sum(
            1
            for cv in self.carer_visits
            if not (cv.fault and cv.fault.kind in _REFUSED_ENTIRELY)
            and (cv.dead_phone or (cv.fault is not None and cv.fault.kind in _REFUSED_CHECK_IN))
        )


@dataclass(frozen=True)
class MorningResult:
    events_sent: int
    # PUBACKs for everything published this morning, tampered copies included.
    events_acked: int
    tampered_sent: int
    visits_planned: int
    expected_complete: int
    expected_open: int
    anomalies: list[PlayedAnomaly] = field(default_factory=list)
    calls_placed: int = 0
    # Calls whose answer said checked in or checked out.
    calls_recorded: int = 0

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
    anomalies: Sequence[AnomalyKind] = (),
    on_progress: Progress | None = None,
    seed: int | None = None,
    flush_timeout: float = 60.0,
    phone: Phone | None = None,
) -> MorningResult:
    """Work the world's morning and publish every handset's events through `uplink`.

    `seed` makes who is late, whose phone dies, who plays which anomaly and the GPS jitter
    repeatable; event ids are always fresh. With a `phone`, carers at homes with a landline and
    no tag or fob call in through it instead. Returns once the broker has acknowledged
    everything or `flush_timeout` passed.
    """
    morning = prepare_morning(
        world,
        late_share=late_share,
        dead_phone_share=dead_phone_share,
        tampered=tampered,
        anomalies=anomalies,
        rng=random.Random(seed),
        outbox=uplink.outbox,
        landline_calls=phone is not None,
    )
    return publish_morning(world, morning, uplink, on_progress, flush_timeout, phone=phone)


def prepare_morning(
    world: World,
    *,
    late_share: float = 0.1,
    dead_phone_share: float = 0.03,
    tampered: int = 0,
    anomalies: Sequence[AnomalyKind] = (),
    rng: random.Random | None = None,
    outbox: Outbox | None = None,
    landline_calls: bool = False,
) -> Morning:
    """Everything the handsets will send, signed and in device-time order, without sending;
    with `landline_calls`, the calls from homes with a landline and no tag or fob too."""
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
    played: list[PlayedAnomaly] = []
    if anomalies:
        # Its own generator: asking for anomalies does not change the rest of the morning.
        faults = choose_faults(world, carer_visits, anomalies, random.Random(rng.random()))
        worked = []
        for index, cv in enumerate(carer_visits):
            fault = faults.get(index)
            if fault is None:
                worked.append(cv)
            elif fault.kind is AnomalyKind.GHOST_VISIT:
                # Billed, never happened: the carer does not go, the handset sends nothing.
                played.append(_played(fault, cv, None, "planned visit with no events"))
            elif fault.kind is AnomalyKind.DEAD_PHONE:
                worked.append(replace(cv, dead_phone=True, fault=fault))
            elif fault.checks_out_at is not None:
                worked.append(replace(cv, left=fault.checks_out_at, fault=fault))
            else:
                worked.append(replace(cv, fault=fault))
        carer_visits = worked
    if landline_calls:
        carer_visits = [_by_landline(world, cv) for cv in carer_visits]
    signed = sign_events(world, [cv for cv in carer_visits if not cv.by_landline], rng, outbox)
    played.extend(signed.played)
    return Morning(
        carer_visits,
        signed.events,
        tamper_some(signed.events, tampered, rng),
        played=played,
        clock_behind=signed.clock_behind,
        held_until=signed.held_until,
        calls=_calls(world, carer_visits),
    )


def _by_landline(world: World, cv: CarerVisit) -> CarerVisit:
    """The carer calls from the landline of a home with neither tag nor fob (unless the visit
    plays an anomaly, which is a handset's); a dead phone does not matter then."""
    home = world.service_user(cv.visit.service_user_id)
    if cv.fault is not None or home.landline is None or home.home_device != "none":
        return cv
    return replace(cv, by_landline=True, dead_phone=False)


def _calls(world: World, carer_visits: Sequence[CarerVisit]) -> list[LandlineCall]:
    calls = []
    for cv in carer_visits:
        if not cv.by_landline:
            continue
        home = world.service_user(cv.visit.service_user_id)
        carer = world.carer(cv.carer_id)
        number = world.provider(cv.visit.provider_id).phone_number
        assert home.landline and number and carer.carer_number and carer.pin
        for at, type_ in ((cv.arrived, EventType.CHECK_IN), (cv.left, EventType.CHECK_OUT)):
            calls.append(
                LandlineCall(
                    at,
                    type_,
                    cv.visit.visit_ref,
                    cv.carer_id,
                    home.landline,
                    number,
                    carer.carer_number,
                    carer.pin,
                )
            )
    calls.sort(key=lambda c: (c.at, c.type != EventType.CHECK_IN, c.carer_id))
    return calls


def _played(
    fault: Fault, cv: CarerVisit, device_id: str | None, detail: str, event_ids: Sequence[str] = ()
) -> PlayedAnomaly:
    return PlayedAnomaly(
        fault.kind,
        cv.visit.visit_ref,
        cv.visit.service_user_id,
        cv.carer_id,
        device_id,
        detail,
        list(event_ids),
    )


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


@dataclass
class SignedMorning:
    events: list[SignedVisitEvent]
    played: list[PlayedAnomaly]
    clock_behind: dict[str, timedelta]
    held_until: dict[str, datetime]


def sign_events(
    world: World,
    carer_visits: Sequence[CarerVisit],
    rng: random.Random,
    outbox: Outbox | None = None,
) -> SignedMorning:
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
    events: list[SignedVisitEvent] = []
    # Check-in taps by (carer, visit_ref): a cloned tag replays one of them.
    taps: dict[tuple[str, str], TagReading] = {}
    clock_behind: dict[str, timedelta] = {}
    held_until: dict[str, datetime] = {}
    # Handsets without signal: device id -> the device time their signal comes back.
    offline: dict[str, datetime] = {}
    played: dict[tuple[AnomalyKind, str, str], PlayedAnomaly] = {}
    for at, type, cv in due:
        fault = cv.fault
        kind = fault.kind if fault else None
        signer = fault.handset_carer if fault and fault.handset_carer else cv.carer_id
        handset = handsets[signer]
        tag: bool | TagReading = True
        gps = True
        device_time = at
        detail = ""
        if kind is AnomalyKind.BUDDY_PUNCHING:
            # The colleague is at another home: no tap, no fix at this one.
            tag, gps = False, False
            detail = f"checked in and out by {signer}'s handset"
        elif kind is AnomalyKind.CLOCK_SET_BACK:
            device_time = at - CLOCK_BEHIND
            detail = f"handset clock {CLOCK_BEHIND} behind"
        elif kind is AnomalyKind.CLONED_TAG and type is EventType.CHECK_IN:
            assert fault is not None and fault.tap_copied_from is not None
            tag = taps[fault.tap_copied_from]
            detail = f"check-in carries the tag tap of {fault.tap_copied_from[1]}"
        elif kind is AnomalyKind.DEAD_PHONE:
            detail = "phone died after check-in"
        elif kind is AnomalyKind.TWO_HOMES:
            detail = "checked out only after checking in at the next home"
        if type is EventType.CHECK_IN:
            event = handset.check_in(cv.visit, device_time, tag=tag, gps=gps, carer_id=cv.carer_id)
            if event.claims.tag is not None:
                taps[(cv.carer_id, cv.visit.visit_ref)] = event.claims.tag
        else:
            event = handset.check_out(cv.visit, device_time, tag=tag, gps=gps, carer_id=cv.carer_id)
        events.append(event)
        event_id = str(event.event_id)
        if kind is AnomalyKind.CLOCK_SET_BACK:
            clock_behind[event_id] = CLOCK_BEHIND
        if kind is AnomalyKind.NO_SIGNAL and handset.device_id not in offline:
            offline[handset.device_id] = at + NO_SIGNAL_FOR
        back = offline.get(handset.device_id)
        if back is not None and at < back:
            # Everything this handset signs while it has no signal waits in its outbox.
            held_until[event_id] = back
            if kind is AnomalyKind.NO_SIGNAL:
                detail = f"no signal for {NO_SIGNAL_FOR}: sent when it returned"
        if kind is None or fault is None or kind is AnomalyKind.GHOST_VISIT:
            continue
        if kind is AnomalyKind.NO_SIGNAL and event_id not in held_until:
            continue
        if kind is AnomalyKind.CLONED_TAG and type is not EventType.CHECK_IN:
            continue
        key = (kind, cv.carer_id, cv.visit.visit_ref)
        known = played.get(key)
        if known is None:
            played[key] = _played(fault, cv, handset.device_id, detail, [event_id])
        else:
            played[key] = replace(known, event_ids=[*known.event_ids, event_id])
    return SignedMorning(events, list(played.values()), clock_behind, held_until)


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
    phone: Phone | None = None,
) -> MorningResult:
    if morning.calls and phone is None:
        raise ValueError("the morning has landline calls: give a phone to place them")
    total = len(morning.events) + len(morning.tampered)
    calls = list(morning.calls)
    recorded = 0

    def call_until(moment: datetime | None) -> None:
        """Place every call due by `moment` (all that are left when None)."""
        nonlocal recorded
        while calls and (moment is None or calls[0].at <= moment):
            assert phone is not None
            recorded += bool(phone(calls.pop(0)))

    acked_before = uplink.acked
    # On disk before the first publish; each leaves the outbox once its receipt arrives.
    uplink.keep(morning.events)
    sent = 0
    tampered = iter(morning.tampered)
    pending = next(tampered, None)
    # A handset without signal keeps its events until the morning's clock passes its return.
    waiting: list[SignedVisitEvent] = []
    if on_progress:
        on_progress(0, total)

    def send(event: SignedVisitEvent) -> None:
        nonlocal sent
        event_id = str(event.event_id)
        uplink.publish(
            event.topic, event.payload, event.event_id, morning.clock_behind.get(event_id)
        )
        sent += 1
        if on_progress:
            on_progress(sent, total)

    for index, event in enumerate(morning.events):
        # The morning's clock (a handset set back has the wrong one).
        now = event.claims.device_time + morning.clock_behind.get(str(event.event_id), timedelta(0))
        call_until(now)
        back = [w for w in waiting if morning.held_until[str(w.event_id)] <= now]
        for held in back:
            waiting.remove(held)
            send(held)
        if str(event.event_id) in morning.held_until:
            waiting.append(event)
        else:
            send(event)
        while pending is not None and pending.after == index:
            uplink.publish(pending.topic, pending.token)
            sent += 1
            pending = next(tampered, None)
            if on_progress:
                on_progress(sent, total)
    for held in waiting:
        send(held)
    call_until(None)
    uplink.flush(flush_timeout)
    return MorningResult(
        events_sent=len(morning.events),
        events_acked=uplink.acked - acked_before,
        tampered_sent=len(morning.tampered),
        visits_planned=len(world.visits),
        expected_complete=morning.expected_complete,
        expected_open=morning.expected_open,
        anomalies=morning.played,
        calls_placed=len(morning.calls),
        calls_recorded=recorded,
    )


def _to_ms(at: datetime) -> datetime:
    """Phones stamp events to the millisecond."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)

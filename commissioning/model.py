"""The words and shapes of commissioning: lots and their providers' roles, service requests and
their weekly pattern of visits, offers, and the care packages accepted requests become.

Plain values, so the cascade, deadline, pattern and KPI rules are pure functions that tests drive
without a database. The migration's check constraints spell the same words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum

from core.times import LONDON

__all__ = ["LONDON"]  # care days and visit times are London's; instants are stored in UTC


class LotRole(StrEnum):
    """A provider's place in a lot: the lead is offered every new request first."""

    LEAD = "lead"
    ADDITIONAL = "additional"
    DPS = "dps"  # the dynamic purchasing system's approved list, offered last


class CascadeMode(StrEnum):
    """How a group of providers of one role is offered a request."""

    ONE_AT_A_TIME = "one_at_a_time"  # each in the lineup's order, the next when one says no
    ALL_AT_ONCE = "all_at_once"  # all together, first to accept wins


class RequestStatus(StrEnum):
    OPEN = "open"  # being offered: some offer is open
    PLACED = "placed"  # a provider accepted: the care is commissioned as a package
    UNPLACED = "unplaced"  # every provider of the cascade declined or let the deadline pass
    WITHDRAWN = "withdrawn"  # the council withdrew it before it was placed


class OfferStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"  # the response deadline passed without an answer
    WITHDRAWN = "withdrawn"  # the council withdrew the request or offered it afresh
    PLACED_ELSEWHERE = "placed_elsewhere"  # another provider offered at the same time accepted


class DeclineReason(StrEnum):
    """Why a provider declines an offer (docs/service-requests.md). `other` needs a note."""

    NO_CAPACITY = "no_capacity"
    NO_CARERS_IN_AREA = "no_carers_in_area"
    VISIT_TIMES_NOT_POSSIBLE = "visit_times_not_possible"
    START_DATE_NOT_POSSIBLE = "start_date_not_possible"
    DOUBLE_HANDED_NOT_POSSIBLE = "double_handed_not_possible"
    SKILLS_NOT_AVAILABLE = "skills_not_available"
    RISK_TO_STAFF = "risk_to_staff"
    OTHER = "other"


DECLINE_REASON_TEXT: dict[DeclineReason, str] = {
    DeclineReason.NO_CAPACITY: "No carers free at these times",
    DeclineReason.NO_CARERS_IN_AREA: "No carers working in this area",
    DeclineReason.VISIT_TIMES_NOT_POSSIBLE: "The visit times cannot be met",
    DeclineReason.START_DATE_NOT_POSSIBLE: "Cannot start by the start date",
    DeclineReason.DOUBLE_HANDED_NOT_POSSIBLE: "Cannot staff two carers per visit",
    DeclineReason.SKILLS_NOT_AVAILABLE: "The care needs skills or training we lack",
    DeclineReason.RISK_TO_STAFF: "Unresolved risk to staff at the home",
    DeclineReason.OTHER: "Another reason (see the note)",
}


class EventKind(StrEnum):
    """One step of a request's history (service_request_event.kind)."""

    CREATED = "created"
    OFFERED = "offered"
    VIEWED = "viewed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    PLACED_ELSEWHERE = "placed_elsewhere"
    UNPLACED = "unplaced"
    REOFFERED = "reoffered"
    PACKAGE_CHANGED = "package_changed"
    PACKAGE_ENDED = "package_ended"


class PackageChange(StrEnum):
    ACCEPTED = "accepted"
    CHANGED = "changed"
    ENDED = "ended"


# Monday first, as datetime.weekday() counts.
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class VisitSlot:
    """One line of a weekly pattern: on these weekdays, a visit starting at `start` (London
    time) lasting `minutes`, by `carers` carers at once."""

    days: frozenset[int]  # 0 = Monday ... 6 = Sunday
    start: time
    minutes: int
    carers: int
    service_type: str

    @property
    def weekly_carer_minutes(self) -> int:
        return len(self.days) * self.minutes * self.carers

    def days_text(self) -> str:
        return " ".join(DAY_NAMES[d] for d in sorted(self.days))

    def as_json(self) -> dict[str, object]:
        return {
            "days": [DAY_NAMES[d] for d in sorted(self.days)],
            "start": self.start.strftime("%H:%M"),
            "minutes": self.minutes,
            "carers": self.carers,
            "service_type": self.service_type,
        }

    @classmethod
    def from_json(cls, value: dict[str, object]) -> VisitSlot:
        days = value["days"]
        assert isinstance(days, list)
        return cls(
            days=frozenset(DAY_NAMES.index(str(d)) for d in days),
            start=time.fromisoformat(str(value["start"])),
            minutes=int(str(value["minutes"])),
            carers=int(str(value["carers"])),
            service_type=str(value["service_type"]),
        )


Pattern = tuple[VisitSlot, ...]


def pattern_key(pattern: Pattern) -> tuple[tuple[object, ...], ...]:
    """Order-free identity of a pattern: two imports of one request compare equal by it."""
    return tuple(
        sorted(
            (tuple(sorted(s.days)), s.start, s.minutes, s.carers, s.service_type) for s in pattern
        )
    )


def weekly_hours(pattern: Pattern) -> float:
    """Hours of care a week: each visit's minutes times its carers (a double-handed visit is two
    carers' time, as councils pay it)."""
    return sum(slot.weekly_carer_minutes for slot in pattern) / 60


def pattern_as_json(pattern: Pattern) -> list[dict[str, object]]:
    return [slot.as_json() for slot in pattern]


def pattern_from_json(value: list[dict[str, object]]) -> Pattern:
    return tuple(VisitSlot.from_json(item) for item in value)


@dataclass(frozen=True)
class Lineup:
    """Who is offered a lot's requests, in order: the lead, then the additional providers, then
    the DPS providers."""

    lead: str | None
    additional: tuple[str, ...] = ()
    dps: tuple[str, ...] = ()

    @property
    def providers(self) -> tuple[str, ...]:
        return ((self.lead,) if self.lead else ()) + self.additional + self.dps

    def role_of(self, provider_id: str) -> LotRole | None:
        if provider_id == self.lead:
            return LotRole.LEAD
        if provider_id in self.additional:
            return LotRole.ADDITIONAL
        if provider_id in self.dps:
            return LotRole.DPS
        return None


@dataclass(frozen=True)
class Policy:
    """A council's commissioning settings (commissioning_policy; these are the defaults)."""

    response_working_hours: int = 24
    additional_mode: CascadeMode = CascadeMode.ONE_AT_A_TIME
    dps_mode: CascadeMode = CascadeMode.ALL_AT_ONCE


@dataclass(frozen=True)
class Stage:
    """One step of a cascade: these providers, of this role, are offered the request together
    (one provider when they are offered one at a time)."""

    role: LotRole
    providers: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        return {"role": self.role.value, "providers": list(self.providers)}

    @classmethod
    def from_json(cls, value: dict[str, object]) -> Stage:
        providers = value["providers"]
        assert isinstance(providers, list)
        return cls(LotRole(str(value["role"])), tuple(str(p) for p in providers))


@dataclass(frozen=True)
class Offer:
    id: int
    request_id: int
    provider_id: str
    role: LotRole
    stage: int
    round: int
    offered_at: datetime
    deadline: datetime
    status: OfferStatus
    decided_at: datetime | None
    decided_by: str | None
    decline_reason: str | None
    decline_note: str | None
    first_viewed_at: datetime | None
    views: int


@dataclass(frozen=True)
class ServiceRequest:
    id: int
    council_id: str
    request_ref: str
    service_user_id: str
    lot_id: str
    start_date: date
    end_date: date | None
    visits: Pattern
    notes: str
    status: RequestStatus
    cascade: tuple[Stage, ...]
    stage: int
    source: str
    created_by: str
    created_at: datetime
    placed_at: datetime | None
    placed_with: str | None
    placed_role: LotRole | None
    closed_at: datetime | None
    closed_by: str | None
    close_reason: str | None


@dataclass(frozen=True)
class PackageVersion:
    package_id: int
    version: int
    effective_from: date
    start_date: date
    end_date: date | None
    visits: Pattern
    reason: PackageChange
    made_by: str
    made_at: datetime
    superseded_at: datetime | None


@dataclass(frozen=True)
class CarePackage:
    id: int
    request_id: int
    council_id: str
    provider_id: str
    service_user_id: str
    lot_id: str
    role: LotRole
    plan_from: datetime
    planned_until: date
    created_at: datetime

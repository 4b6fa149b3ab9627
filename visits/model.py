"""The shapes the visit builder works on: evidence events, planned visits, carer stays, visits.

Plain dataclasses, so pairing, matching and the anomaly rules are pure functions that tests can
drive without a database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from uuid import UUID

from core.vocabulary import VERIFICATION_RANK, EvidenceLevel, Verification, VisitStatus

STATUSES = tuple(VisitStatus)


@dataclass(frozen=True)
class EvidenceEvent:
    event_id: UUID
    device_time: datetime
    received_at: datetime
    device_id: str
    provider_id: str
    carer_id: str
    service_user_id: str | None
    seq: int
    event_type: str
    tag_uid: str | None
    gps_lat: float | None
    gps_lon: float | None
    gps_distance_m: float | None
    gps_within_fence: bool | None
    evidence_level: str
    late_arriving: bool


@dataclass(frozen=True)
class Home:
    service_user_id: str
    council_id: str | None
    lat: float | None
    lon: float | None
    geofence_m: float
    tag_uid: str | None


@dataclass(frozen=True)
class PlannedVisit:
    visit_ref: str
    service_user_id: str
    provider_id: str
    planned_start: datetime
    planned_minutes: int
    carers_required: int
    status: str


@dataclass(frozen=True)
class Correction:
    id: int
    segment_id: UUID
    check_in: datetime | None
    check_out: datetime | None
    counts: bool  # approved, or within the council's threshold


@dataclass
class Stay:
    """One carer at one home: a check-in and the check-out that follows it, either may be
    missing. Identified by its anchor event (the check-in, else the lone check-out)."""

    carer_id: str
    provider_id: str
    service_user_id: str | None
    check_in: EvidenceEvent | None
    check_out: EvidenceEvent | None
    correction: Correction | None = None

    @property
    def segment_id(self) -> UUID:
        anchor = self.check_in or self.check_out
        assert anchor is not None
        return anchor.event_id

    @property
    def device_id(self) -> str:
        anchor = self.check_in or self.check_out
        assert anchor is not None
        return anchor.device_id

    @property
    def start(self) -> datetime | None:
        if self.correction is not None and self.correction.check_in is not None:
            return self.correction.check_in
        return self.check_in.device_time if self.check_in else None

    @property
    def end(self) -> datetime | None:
        if self.correction is not None and self.correction.check_out is not None:
            return self.correction.check_out
        return self.check_out.device_time if self.check_out else None

    @property
    def by_telephone(self) -> bool:
        """Signed by a telephony bridge: a landline call, not a carer's own handset."""
        anchor = self.check_in or self.check_out
        assert anchor is not None
        return anchor.evidence_level == EvidenceLevel.LANDLINE

    @property
    def anchor_time(self) -> datetime:
        moment = self.start or self.end
        assert moment is not None
        return moment

    @property
    def is_open(self) -> bool:
        return self.start is None or self.end is None

    @property
    def events(self) -> list[EvidenceEvent]:
        return [e for e in (self.check_in, self.check_out) if e is not None]

    @property
    def verification(self) -> str:
        if self.correction is not None:
            return Verification.MANUAL
        return min((e.evidence_level for e in self.events), key=VERIFICATION_RANK.__getitem__)


@dataclass(frozen=True)
class Anomaly:
    code: str
    detail: str
    carer_id: str | None = None
    event_id: UUID | None = None


@dataclass
class Visit:
    id: UUID
    provider_id: str
    service_user_id: str | None
    london_day: date
    stays: list[Stay]
    planned: PlannedVisit | None = None
    status: str = VisitStatus.OPEN
    anomalies: list[Anomaly] = field(default_factory=list)
    corrections_pending: int = 0

    @property
    def home_key(self) -> str:
        return self.service_user_id or ""

    @property
    def check_in(self) -> datetime | None:
        starts = [s.start for s in self.stays if s.start is not None]
        return min(starts) if starts else None

    @property
    def check_out(self) -> datetime | None:
        if any(s.end is None for s in self.stays):
            return None
        return max(s.end for s in self.stays if s.end is not None) if self.stays else None

    @property
    def is_open(self) -> bool:
        return any(s.is_open for s in self.stays)

    @property
    def minutes(self) -> int | None:
        """Whole minutes (rounded down): one carer's stay; with several carers, the time they
        were all present (0 when their stays do not meet)."""
        if not self.stays or self.is_open:
            return None
        latest_start = max(s.start for s in self.stays if s.start is not None)
        earliest_end = min(s.end for s in self.stays if s.end is not None)
        seconds = (earliest_end - latest_start).total_seconds()
        return max(0, int(seconds // 60))

    @property
    def verification(self) -> str:
        if not self.stays:
            return Verification.NONE
        return min((s.verification for s in self.stays), key=VERIFICATION_RANK.__getitem__)

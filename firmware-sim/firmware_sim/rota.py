"""Rostering one provider's morning: carers' rounds of consecutive visits with travel between.

List scheduling: each visit goes to the carer (or the two carers, when double-handed) free
earliest, so a round is a run of visits separated by drives and nobody is in two homes at
once. A visit's length is drawn from VISIT_MINUTES, but only among lengths that leave enough
of the morning for the visits still to place; when even the shortest do not, the round runs
past the end of the morning (an overbooked rota) rather than double-book a carer.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypeVar

# Planned lengths of a call. Short calls dominate English home care rotas.
VisitMinutes = Literal[15, 30, 45, 60]
VISIT_MINUTES: dict[VisitMinutes, float] = {15: 0.35, 30: 0.40, 45: 0.15, 60: 0.10}
# Travel between homes within a few km of each other; multiples of 5 keep starts on the
# 5-minute marks rostering systems use.
TRAVEL_MINUTES: dict[int, float] = {5: 0.5, 10: 0.35, 15: 0.15}
SHORTEST_VISIT: VisitMinutes = 15
SHORTEST_TRAVEL = min(TRAVEL_MINUTES)
# The least a carer-visit can cost a round: the shortest call plus the shortest drive.
SHORTEST_CYCLE = timedelta(minutes=SHORTEST_VISIT + SHORTEST_TRAVEL)
# Carers do not all set out at the same minute.
ROUND_START_STAGGER_MINUTES = (0, 5)


@dataclass(frozen=True)
class RotaSlot:
    provider_id: str
    service_user_id: str
    start: datetime
    minutes: VisitMinutes
    carer_ids: tuple[str, ...]


def plan_rounds(
    rng: random.Random,
    provider_id: str,
    carers: Sequence[str],
    homes: Sequence[str],
    crews: Sequence[int],
    morning: tuple[datetime, datetime],
) -> list[RotaSlot]:
    """Place one visit per entry of `crews` (the number of carers it needs) into the morning."""
    if not crews:
        return []
    if not carers or not homes or max(crews) > len(carers):
        raise ValueError(f"provider {provider_id} lacks the carers or homes for its visits")
    return _Rounds(rng, provider_id, carers, homes, morning).place_all(crews)


class _Rounds:
    def __init__(
        self,
        rng: random.Random,
        provider_id: str,
        carers: Sequence[str],
        homes: Sequence[str],
        morning: tuple[datetime, datetime],
    ) -> None:
        self.rng = rng
        self.provider_id = provider_id
        start, self.morning_end = morning
        # Heaps ordered by when a carer (or home) is next free; the random second key breaks
        # ties either way without shuffling the whole list each visit.
        self.free_carers = [
            (start + timedelta(minutes=rng.choice(ROUND_START_STAGGER_MINUTES)), rng.random(), c)
            for c in carers
        ]
        heapq.heapify(self.free_carers)
        self.capacity = sum(self._cycles_left(free) for free, _, _ in self.free_carers)
        # Free homes bucketed by visits so far, so visits spread over the provider's clients;
        # homes with a visit under way wait in `busy_homes` until it ends.
        self.homes_by_visits: dict[int, list[str]] = {0: list(homes)}
        self.busy_homes: list[tuple[datetime, float, str, int]] = []

    def place_all(self, crews: Sequence[int]) -> list[RotaSlot]:
        # Shortest cycles still to find after each visit: one per carer-visit, plus a spare
        # per double-handed visit, whose crew may wait for each other.
        still_needed = [0] * len(crews)
        for index in range(len(crews) - 2, -1, -1):
            after = crews[index + 1]
            still_needed[index] = still_needed[index + 1] + after + (1 if after > 1 else 0)
        return [self._place(n, later) for n, later in zip(crews, still_needed, strict=True)]

    def _place(self, needed: int, still_needed: int) -> RotaSlot:
        # Homes free by the earliest carer's time are free for any visit placed from now on,
        # since no later visit starts before that.
        self._release_homes(self.free_carers[0][0])
        crew = [heapq.heappop(self.free_carers) for _ in range(needed)]
        for free, _, _ in crew:
            self.capacity -= self._cycles_left(free)
        start = max(free for free, _, _ in crew)
        home, visits, home_free = self._take_home()
        if home_free is not None:
            start = max(start, home_free)
        minutes, travel = self._length_and_travel(needed, start, still_needed)
        end = start + timedelta(minutes=minutes)
        crew_free = end + timedelta(minutes=travel)
        for _, _, carer in crew:
            heapq.heappush(self.free_carers, (crew_free, self.rng.random(), carer))
            self.capacity += self._cycles_left(crew_free)
        heapq.heappush(self.busy_homes, (end, self.rng.random(), home, visits + 1))
        crew_ids = tuple(sorted(carer for _, _, carer in crew))
        return RotaSlot(self.provider_id, home, start, minutes, crew_ids)

    def _release_homes(self, now: datetime) -> None:
        while self.busy_homes and self.busy_homes[0][0] <= now:
            _, _, home, visits = heapq.heappop(self.busy_homes)
            self.homes_by_visits.setdefault(visits, []).append(home)

    def _take_home(self) -> tuple[str, int, datetime | None]:
        """The least-visited free home; when none is free, the one free soonest, and when."""
        counts = [k for k, bucket in self.homes_by_visits.items() if bucket]
        if counts:
            fewest = min(counts)
            bucket = self.homes_by_visits[fewest]
            index = self.rng.randrange(len(bucket))
            bucket[index], bucket[-1] = bucket[-1], bucket[index]
            return bucket.pop(), fewest, None
        free, _, home, visits = heapq.heappop(self.busy_homes)
        return home, visits, free

    def _length_and_travel(
        self, crew_size: int, start: datetime, still_needed: int
    ) -> tuple[VisitMinutes, int]:
        """A drawn length and travel time, given up for shorter ones when the morning is full."""
        for travel in dict.fromkeys((_weighted(self.rng, TRAVEL_MINUTES), SHORTEST_TRAVEL)):
            lengths = dict(VISIT_MINUTES)
            while lengths:
                choice = _weighted(self.rng, lengths)
                crew_free = start + timedelta(minutes=choice + travel)
                if self.capacity + crew_size * self._cycles_left(crew_free) >= still_needed:
                    return choice, travel
                del lengths[choice]
        # Nothing fits: the shortest call and drive, so an overbooked round overruns least.
        return SHORTEST_VISIT, SHORTEST_TRAVEL

    def _cycles_left(self, free: datetime) -> int:
        """Shortest visits a carer free at `free` could still start before the morning ends."""
        return max(0, math.ceil((self.morning_end - free) / SHORTEST_CYCLE))


_Option = TypeVar("_Option", bound=int)


def _weighted(rng: random.Random, weights: dict[_Option, float]) -> _Option:
    options = list(weights)
    return rng.choices(options, weights=[weights[o] for o in options])[0]

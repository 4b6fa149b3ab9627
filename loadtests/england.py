"""A simulated England's day of home-care visits, as events per minute, for the capacity plan.

How the shape is derived (docs/scaling.md, "Capacity plan for England"):

1. England: about 1,000,000 visits a day (VISITS_PER_DAY), in four rounds whose shares follow
   how English home-care rotas are built: morning (getting up, breakfast, medication) the
   largest, then lunch, tea and bed (ROUNDS).
2. Each round is rostered per provider with the simulator's own rota model
   (firmware_sim.rota.plan_rounds): carers set out at the round's start (staggered 0-5
   minutes), do consecutive visits of 15-60 minutes with 5-15 minute drives, 10 % of visits
   double-handed. A sample of providers is rostered (SAMPLE_PROVIDERS) and the counts scaled to
   the whole country; CARERS_PER_PROVIDER sets how many visits a carer does per round.
3. Every carer's handset sends a check-in at arrival and a check-out at departure (two events per
   carer per visit); arrival differs from the plan by a normal spread (ARRIVAL_SPREAD_MIN
   minutes), as carers run early or late.
4. Events are counted per minute of the day; the national peak hour is the 60-minute window
   with the most events.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from firmware_sim.rota import plan_rounds

VISITS_PER_DAY = 1_000_000
PROVIDERS = 6_000
SAMPLE_PROVIDERS = 300
CARERS_PER_PROVIDER = 14
DOUBLE_HANDED_SHARE = 0.10
ARRIVAL_SPREAD_MIN = 4.0
# (name, start, end, share of the day's visits)
ROUNDS = (
    ("morning", "07:00", "10:30", 0.40),
    ("lunch", "12:00", "14:00", 0.20),
    ("tea", "16:30", "18:30", 0.18),
    ("bed", "19:30", "22:00", 0.22),
)
DAY = datetime(2026, 1, 12)  # a Monday; only times of day matter


@dataclass(frozen=True)
class DayProfile:
    events_per_minute: list[float]  # 1,440 minutes, whole country
    visits: int
    events: float

    @property
    def peak_hour_start(self) -> int:
        window = [sum(self.events_per_minute[m : m + 60]) for m in range(1440 - 59)]
        return max(range(len(window)), key=window.__getitem__)

    @property
    def peak_hour(self) -> list[float]:
        start = self.peak_hour_start
        return self.events_per_minute[start : start + 60]

    @property
    def peak_events_per_s(self) -> float:
        return max(self.events_per_minute) / 60


def simulate_day(seed: int = 14, visits_per_day: int = VISITS_PER_DAY) -> DayProfile:
    rng = random.Random(seed)
    counts = [0.0] * 1440
    scale = PROVIDERS / SAMPLE_PROVIDERS
    visits_sampled = 0
    for _, start_text, end_text, share in ROUNDS:
        start = DAY.replace(hour=int(start_text[:2]), minute=int(start_text[3:]))
        end = DAY.replace(hour=int(end_text[:2]), minute=int(end_text[3:]))
        per_provider = round(visits_per_day * share / PROVIDERS)
        for p in range(SAMPLE_PROVIDERS):
            carers = [f"C{p}-{c}" for c in range(CARERS_PER_PROVIDER)]
            homes = [f"H{p}-{h}" for h in range(per_provider)]
            crews = [2 if rng.random() < DOUBLE_HANDED_SHARE else 1 for _ in homes]
            for slot in plan_rounds(rng, f"P{p}", carers, homes, crews, (start, end)):
                visits_sampled += 1
                for _ in slot.carer_ids:
                    arrive = slot.start + timedelta(minutes=rng.gauss(0, ARRIVAL_SPREAD_MIN))
                    leave = arrive + timedelta(minutes=slot.minutes)
                    for moment in (arrive, leave):
                        minute = int((moment - DAY).total_seconds() // 60)
                        if 0 <= minute < 1440:
                            counts[minute] += scale
    return DayProfile(counts, round(visits_sampled * scale), sum(counts))


if __name__ == "__main__":
    profile = simulate_day()
    start = profile.peak_hour_start
    print(
        f"visits {profile.visits:,}, events {profile.events:,.0f}, peak hour "
        f"{start // 60:02d}:{start % 60:02d}, {sum(profile.peak_hour):,.0f} events, "
        f"peak minute {max(profile.events_per_minute):,.0f} ({profile.peak_events_per_s:.0f}/s)"
    )

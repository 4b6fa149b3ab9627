"""The load test's same-run baseline reads the loop-lag histogram and /proc/stat as documented."""

from __future__ import annotations

import math

import pytest

from loadtests.baseline import cpu_shares, lag_summary, latency_summary, run_seconds


def test_loop_lag_counts_only_the_measured_part() -> None:
    # Cumulative bucket counts, as Prometheus gives them, before and after the measured part.
    before = {0.01: 100.0, 0.05: 100.0, 0.1: 100.0, 0.25: 100.0, math.inf: 100.0}
    after = {0.01: 190.0, 0.05: 197.0, 0.1: 198.0, 0.25: 199.0, math.inf: 200.0}

    summary = lag_summary(before, after)

    assert summary["samples"] == 100
    assert summary["median_at_most_ms"] == 10.0
    assert summary["p99_at_most_ms"] == 250.0
    assert (summary["over_50_ms"], summary["over_100_ms"], summary["over_250_ms"]) == (3, 2, 1)


def test_no_oversleeps_measured_says_so() -> None:
    assert lag_summary({math.inf: 5.0}, {math.inf: 5.0}) == {"samples": 0}


def test_cpu_shares_from_proc_stat_deltas() -> None:
    # user nice system idle iowait irq softirq steal
    before = [0, 0, 0, 0, 0, 0, 0, 0]
    after = [50, 0, 10, 30, 5, 0, 0, 5]

    assert cpu_shares(before, after) == {
        "cpu_busy_percent": 65.0,
        "cpu_iowait_percent": 5.0,
        "cpu_steal_percent": 5.0,
    }


def test_latency_percentiles_are_nearest_rank() -> None:
    summary = latency_summary([float(n) for n in range(1, 101)])
    assert (summary["median_ms"], summary["p99_ms"], summary["max_ms"]) == (50.0, 99.0, 100.0)


@pytest.mark.parametrize(
    ("run_time", "seconds"), [("60s", 60.0), ("2m", 120.0), ("1h30m", 5400.0), ("90", 90.0)]
)
def test_locust_run_times_in_seconds(run_time: str, seconds: float) -> None:
    assert run_seconds(run_time) == seconds


def test_a_run_time_locust_would_not_take_is_refused() -> None:
    with pytest.raises(SystemExit):
        run_seconds("a minute")

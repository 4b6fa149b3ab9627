"""Visit reads share build passes: each sees a pass that began after it arrived, few passes run."""

from __future__ import annotations

import threading
import time

import pytest

from visits.freshness import SharedPasses


def test_reads_one_after_another_each_get_a_pass() -> None:
    passes = SharedPasses()
    ran: list[int] = []
    for _ in range(3):
        passes.after_arrival(lambda: ran.append(len(ran)))
    assert ran == [0, 1, 2] and passes.passes == 3


def test_reads_arriving_during_a_pass_share_the_next_one() -> None:
    passes = SharedPasses()
    release = threading.Event()
    first_running = threading.Event()
    starts: list[float] = []

    def slow_pass() -> None:
        starts.append(time.monotonic())
        first_running.set()
        release.wait(5)

    first = threading.Thread(target=passes.after_arrival, args=(slow_pass,))
    first.start()
    assert first_running.wait(5)
    arrivals: list[float] = []
    finished: list[float] = []

    def read() -> None:
        arrivals.append(time.monotonic())
        passes.after_arrival(slow_pass)
        finished.append(time.monotonic())

    readers = [threading.Thread(target=read) for _ in range(6)]
    for reader in readers:
        reader.start()
    time.sleep(0.2)
    assert finished == []  # the running pass began before they arrived: it does not count
    release.set()
    for thread in (first, *readers):
        thread.join(5)

    assert passes.passes == 2  # the first, and one shared by all six readers
    assert len(finished) == 6
    assert all(starts[1] >= arrived for arrived in arrivals)


def test_a_failed_pass_raises_in_its_caller_and_the_others_run_their_own() -> None:
    passes = SharedPasses()
    calls = 0

    def failing_once() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database away")

    with pytest.raises(RuntimeError):
        passes.after_arrival(failing_once)
    passes.after_arrival(failing_once)
    assert calls == 2 and passes.passes == 1

"""The handset's side of receipts (protocol v1.1): what it still waits for, and when to resend.

An event stays in the outbox until a receipt names it. One sent and not receipted within the
timeout is sent again with the same bytes, the wait doubling each time up to a ceiling, with
random jitter so that a fleet coming back from the same outage does not resend in step
(docs/protocol.md, retry rule). After a reconnect everything still waiting is due again
within one jittered timeout; after a restart the outbox is sent again in full.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from uuid import UUID

# Defaults of the retry rule; docs/protocol.md states the same figures.
RECEIPT_TIMEOUT_S = 30.0
MAX_BACKOFF_S = 600.0


@dataclass
class Waiting:
    topic: str
    payload: bytes
    attempts: int
    due: float


class ResendSchedule:
    """Thread-safe: publishes and receipts come from different threads."""

    def __init__(
        self,
        timeout_s: float = RECEIPT_TIMEOUT_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        rng: random.Random | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_backoff_s = max_backoff_s
        self._rng = rng or random.Random()
        self._waiting: dict[UUID, Waiting] = {}
        self._changed = threading.Condition()

    def delay(self, attempts: int) -> float:
        """Wait before resend number `attempts`: timeout * 2^(attempts-1), capped, then a
        random 50-100% of it ("equal jitter")."""
        base = min(self.timeout_s * 2 ** max(attempts - 1, 0), self.max_backoff_s)
        return base * self._rng.uniform(0.5, 1.0)

    def sent(self, event_id: UUID, topic: str, payload: bytes, now: float) -> None:
        with self._changed:
            waiting = self._waiting.get(event_id)
            attempts = waiting.attempts + 1 if waiting else 1
            self._waiting[event_id] = Waiting(topic, payload, attempts, now + self.delay(attempts))

    def receipted(self, event_ids: list[UUID]) -> set[UUID]:
        """Stop waiting for these; returns those that were being waited for."""
        with self._changed:
            held = {event_id for event_id in event_ids if self._waiting.pop(event_id, None)}
            self._changed.notify_all()
            return held

    def due(self, now: float) -> list[tuple[UUID, Waiting]]:
        with self._changed:
            return [(k, w) for k, w in self._waiting.items() if w.due <= now]

    def reconnected(self, now: float) -> None:
        """Everything waiting is due within one jittered timeout (its receipt may have been
        sent while the link was down, and then the session brings it first)."""
        with self._changed:
            for waiting in self._waiting.values():
                waiting.due = min(waiting.due, now + self.timeout_s * self._rng.uniform(0.5, 1.0))

    def __len__(self) -> int:
        with self._changed:
            return len(self._waiting)

    def wait_empty(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: not self._waiting, timeout)

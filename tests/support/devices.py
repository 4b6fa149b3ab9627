"""A test's own handset: a provider with one carer, one handset and one service user, seeded
through the real registry (tests.support.world), signing events as a phone does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from gateway.protocol import EventClaims, EventType, events_topic, sign_compact
from tests.support.world import World, tag_uid


@dataclass
class TestDevice:
    __test__ = False  # a fixture's product, not a test class

    """A provider with one carer, one handset and one service user, made for one test."""

    provider_id: str
    carer_id: str
    device_id: str
    service_user_id: str
    tag_uid: str
    key: Ed25519PrivateKey
    seq: int = 0
    sent: list[str] = field(default_factory=list)

    @property
    def topic(self) -> str:
        return events_topic(self.device_id)

    def event(
        self, type: EventType, device_time: datetime | None = None, **overrides: Any
    ) -> tuple[EventClaims, str]:
        self.seq += 1
        claims = EventClaims.build(
            event_id=uuid.uuid4(),
            device_id=self.device_id,
            carer_id=self.carer_id,
            seq=self.seq,
            type=type,
            device_time=device_time or datetime.now(UTC),
            service_user_id=self.service_user_id,
        )
        if overrides:
            claims = claims.model_copy(update=overrides)
        return claims, sign_compact(claims.to_json(), self.key, kid=self.device_id)


def new_test_device(engine: Engine) -> TestDevice:
    world = World()
    provider_id = world.provider()
    handset = world.handset(provider_id)
    device = TestDevice(
        provider_id=provider_id,
        carer_id=handset.carer_id,
        device_id=handset.device_id,
        service_user_id="",
        tag_uid=tag_uid(),
        key=handset.key,
    )
    device.service_user_id = world.home(home_tag_uid=device.tag_uid)
    world.seed(engine)
    return device

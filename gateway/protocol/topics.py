"""MQTT topic layout: each device publishes only under its own id."""

from __future__ import annotations

import re

from gateway.protocol.rejection import Rejected, Rejection

_TOPIC = re.compile(r"^ecm/v1/devices/(?P<device_id>[A-Za-z0-9_.-]{1,64})/events$")
DEVICE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def events_topic(device_id: str) -> str:
    if not DEVICE_ID.match(device_id):
        raise ValueError(f"invalid device id {device_id!r}")
    return f"ecm/v1/devices/{device_id}/events"


def events_subscription(share_group: str | None) -> str:
    """All devices' events; as an MQTT shared subscription when workers share the load."""
    pattern = "ecm/v1/devices/+/events"
    return f"$share/{share_group}/{pattern}" if share_group else pattern


def device_from_topic(topic: str) -> str:
    match = _TOPIC.match(topic)
    if not match:
        raise Rejected(Rejection.BAD_TOPIC, f"topic {topic!r} is not ecm/v1/devices/<id>/events")
    return match.group("device_id")

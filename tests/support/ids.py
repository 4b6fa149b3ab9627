"""Fresh ids: tests never delete evidence (the store forbids it), so each makes its own."""

from __future__ import annotations

import uuid


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ConnDep
from api.errors import ERROR_RESPONSES
from api.health import repository
from api.health.schemas import Health

# An unreachable database surfaces as OperationalError, which the handlers turn into 503.
router = APIRouter(tags=["health"], responses=ERROR_RESPONSES)


@router.get("/health", response_model=Health)
def health(conn: ConnDep) -> Health:
    repository.ping(conn)
    return Health()

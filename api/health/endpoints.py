from __future__ import annotations

from fastapi import APIRouter

from api.deps import ConnDep
from api.errors import error_response
from api.health import repository
from api.health.schemas import Health

# An unreachable database surfaces as OperationalError, which the handlers turn into 503.
# Public: load balancers probe it without signing in, so it has no 401 to document.
router = APIRouter(tags=["health"], responses={503: error_response("The database is unavailable.")})


@router.get("/health", response_model=Health)
def health(conn: ConnDep) -> Health:
    """Liveness and database reachability; needs no sign-in."""
    repository.ping(conn)
    return Health()

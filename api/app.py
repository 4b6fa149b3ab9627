"""The FastAPI application: one engine per process, routers per domain package."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import loop_lag, metrics, openapi
from api.auth.endpoints import router as auth_router
from api.carer_days.carer_day_endpoints import router as carer_days_router
from api.commissioning.offer_endpoints import router as offers_router
from api.commissioning.request_endpoints import router as commissioning_router
from api.devices.endpoints import router as devices_router
from api.devices.home_device_endpoints import router as home_devices_router
from api.error_handlers import EXCEPTION_HANDLERS
from api.events.endpoints import router as events_router
from api.governance.endpoints import router as governance_router
from api.health.endpoints import router as health_router
from api.limits import BodyLimitMiddleware
from api.portal.endpoints import router as portal_router
from api.portal.reconciliation_pages import router as portal_reconciliation_router
from api.reconciliation.reconciliation_endpoints import router as reconciliation_router
from api.registry.endpoints import router as registry_router
from api.request_id import RequestIdMiddleware
from api.telephony.telephone_pin_endpoints import router as telephony_router
from api.times import utc_now
from api.visits.visit_endpoints import router as visits_router
from core.db import make_engine
from core.settings import Settings, get_settings
from visits.freshness import VisitFreshness

API_POOL_SIZE = 20


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with loop_lag.watching():
        yield
    app.state.freshness.dispose()
    app.state.engine.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="ECM API",
        version="1",
        description=(
            "Electronic Call Monitoring for home care: evidence of carers' visits for providers "
            "and councils. Sign in with `POST /auth/token` (OAuth2 password flow) and send "
            "`Authorization: Bearer <token>`. Errors have the body "
            '`{"error": {"code", "message"}}`. Lists page with `limit`, `offset` and '
            "`next_offset`."
        ),
        docs_url="/docs",
        openapi_url="/openapi.json",
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.settings = settings
    # What the portal's "today" is measured by; tests set a fixed one (api.deps.get_clock).
    app.state.clock = utc_now
    # Made here, not in the lifespan, so the app is usable even when a caller (a test client
    # without `with`) never runs start-up.
    # As the API's own database role, which may only append to the audit trail.
    # Pooled connections for as many requests as the thread pool runs at once under load: with
    # SQLAlchemy's default of 5, every request beyond the fifth opened a connection of its own
    # (the overflow) and closed it again, a new PostgreSQL backend each time.
    app.state.engine = make_engine(
        settings, "api", pool_size=API_POOL_SIZE, url=settings.api_sqlalchemy_url
    )
    # Visit reads fold in new evidence first, on a small engine of their own (visits.freshness).
    app.state.freshness = VisitFreshness(settings, url=settings.api_sqlalchemy_url)
    # Bodies are counted as they arrive (api.limits); request ids wrap even a refusal.
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(RequestIdMiddleware)
    for router in (
        health_router,
        auth_router,
        registry_router,
        events_router,
        visits_router,
        reconciliation_router,
        commissioning_router,
        offers_router,
        portal_router,
        portal_reconciliation_router,
        devices_router,
        home_devices_router,
        governance_router,
        carer_days_router,
        telephony_router,
    ):
        app.include_router(router)
    openapi.install(app)
    metrics.install(app, settings)
    return app

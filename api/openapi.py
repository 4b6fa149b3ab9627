"""The OpenAPI document, completed: every operation that needs a token documents the 401 it
answers without one, so endpoints added later are described correctly without remembering to."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

UNAUTHORIZED = {
    "description": "No valid access token: sign in at /auth/token.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    if operation.get("security"):
                        operation.setdefault("responses", {}).setdefault("401", UNAUTHORIZED)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

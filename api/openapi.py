"""The OpenAPI document, completed: every operation that needs a token documents the 401 it
answers without one, so endpoints added later are described correctly without remembering to;
request and response bodies carry the examples of api/examples.py."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.examples import EXAMPLES, TEXT_EXAMPLES

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
            for path, operations in document.get("paths", {}).items():
                for method, operation in operations.items():
                    if operation.get("security"):
                        operation.setdefault("responses", {}).setdefault("401", UNAUTHORIZED)
                    _add_examples(method, path, operation)
            for name, schema in document.get("components", {}).get("schemas", {}).items():
                if name in EXAMPLES:
                    schema["examples"] = [EXAMPLES[name]]
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_examples(method: str, path: str, operation: dict[str, Any]) -> None:
    """An example on every request body and successful response body that has one."""
    bodies = [("request", operation.get("requestBody", {}))]
    bodies += [
        (status, response)
        for status, response in operation.get("responses", {}).items()
        if status.startswith("2")
    ]
    for key, body in bodies:
        for content in body.get("content", {}).values():
            example = _example(content.get("schema", {}))
            if example is None:
                example = TEXT_EXAMPLES.get((method, path, key))
            if example is not None:
                content["example"] = example


def _example(schema: dict[str, Any]) -> Any:
    for option in schema.get("anyOf", []):
        if "$ref" in option:
            schema = option
    name = schema.get("$ref", "").rsplit("/", 1)[-1]
    if name in EXAMPLES:
        return EXAMPLES[name]
    items = schema.get("items", {}).get("$ref", "").rsplit("/", 1)[-1]
    if schema.get("type") == "array" and items in EXAMPLES:
        return [EXAMPLES[items]]
    return None

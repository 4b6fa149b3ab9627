"""Every request and response body in the OpenAPI document has an example that fits its schema."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import time
from typing import Any

import jsonschema_rs
import pytest

from api.app import create_app
from core.settings import Settings


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    spec: dict[str, Any] = create_app(Settings(env="test")).openapi()
    return spec


def bodies(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(operation, media type, content) of every request body and 2xx response body."""
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            name = f"{method.upper()} {path}"
            for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
                yield f"{name} request", media_type, content
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    for media_type, content in response.get("content", {}).items():
                        yield f"{name} {status}", media_type, content


def closed(schema: Any) -> Any:
    """The schema with unknown keys refused in every object that lists its properties, so an
    example with a misspelt field fails instead of passing unnoticed."""
    if isinstance(schema, dict):
        schema = {key: closed(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [closed(value) for value in schema]
    return schema


def local_time(value: str) -> bool:
    """pydantic writes a time of day without an offset (08:00:00), as the API sends it; JSON
    Schema's "time" format asks for one."""
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        return False
    return parsed.tzinfo is None


def test_every_body_has_an_example(document: dict[str, Any]) -> None:
    missing = [
        f"{name} {media}" for name, media, content in bodies(document) if "example" not in content
    ]
    assert missing == []


def test_every_json_example_fits_its_schema(document: dict[str, Any]) -> None:
    components = closed(copy.deepcopy(document["components"]))
    checked = 0
    for name, media_type, content in bodies(document):
        if not media_type.endswith("json") and "form" not in media_type:
            assert isinstance(content["example"], str), name
            continue
        schema = {**content["schema"], "components": components}
        validator = jsonschema_rs.Draft202012Validator(
            schema, validate_formats=True, formats={"time": local_time}
        )
        errors = [error.message for error in validator.iter_errors(content["example"])]
        assert errors == [], f"{name}: {errors}"
        checked += 1
    assert checked >= 40


def test_a_misspelt_field_is_caught(document: dict[str, Any]) -> None:
    components = closed(copy.deepcopy(document["components"]))
    schema = {"$ref": "#/components/schemas/Provider", "components": components}
    validator = jsonschema_rs.Draft202012Validator(schema)
    assert validator.is_valid({"id": "P001", "name": "Broadland Home Care Ltd"})
    assert not validator.is_valid({"id": "P001", "nmae": "Broadland Home Care Ltd"})

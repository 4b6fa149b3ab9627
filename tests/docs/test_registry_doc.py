"""deploy/registry.example.json is a valid registry document, shown verbatim in docs/registry.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

from gateway.protocol.example import TEST_PRIVATE_KEY_D, worked_example
from gateway.registry import RegistryDocument
from gateway.registry.schemas import Carer, Device, Lot, Provider, ServiceUser

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "registry.example.json"
DOC = ROOT / "docs" / "registry.md"


def load_example() -> RegistryDocument:
    return RegistryDocument.model_validate(json.loads(EXAMPLE.read_text()))


def test_example_validates() -> None:
    document = load_example()
    assert document.providers and document.carers and document.devices and document.service_users


def test_example_references_resolve_within_the_file() -> None:
    document = load_example()
    providers = {p.id for p in document.providers}
    owners = [(c.id, c.provider_id) for c in document.carers]
    owners += [(d.id, d.provider_id) for d in document.devices]
    for record_id, provider_id in owners:
        assert provider_id in providers, record_id
    tags = [s.home_tag_uid for s in document.service_users if s.home_tag_uid]
    assert len(tags) == len(set(tags))


def test_example_never_registers_the_public_test_key() -> None:
    test_x = worked_example()["private_key_jwk"]["x"]
    assert TEST_PRIVATE_KEY_D not in EXAMPLE.read_text()
    assert all(device.public_key != test_x for device in load_example().devices)


def test_doc_shows_the_example_file() -> None:
    blocks = re.findall(r"^```json\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)
    assert blocks[0] == EXAMPLE.read_text()


def test_doc_documents_every_record_field() -> None:
    doc = DOC.read_text()
    for model in (Provider, Carer, Device, ServiceUser, Lot):
        for field in model.model_fields:
            assert f"| `{field}` |" in doc, f"{model.__name__}.{field}"
    for key in RegistryDocument.model_fields:
        assert f"| `{key}` |" in doc, key

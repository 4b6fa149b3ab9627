"""Registry seeding against the real database."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError
from sqlalchemy import Engine, text

from gateway.protocol import public_key_to_b64
from gateway.registry import (
    Carer,
    Commission,
    Council,
    Device,
    Provider,
    RegistryDocument,
    RegistryError,
    ServiceUser,
    seed,
)
from tests.support.ids import unique


def document(provider_id: str, name: str = "Acme Care") -> RegistryDocument:
    return RegistryDocument(
        providers=[Provider(id=provider_id, name=name)],
        carers=[Carer(id=f"{provider_id}-C1", provider_id=provider_id, name="Ann")],
        devices=[
            Device(
                id=f"{provider_id}-D1",
                provider_id=provider_id,
                public_key=public_key_to_b64(Ed25519PrivateKey.generate().public_key()),
            )
        ],
        service_users=[ServiceUser(id=f"{provider_id}-SU1", name="Bea", home_tag_uid=None)],
    )


def test_seeding_twice_upserts(engine: Engine) -> None:
    provider_id = unique("P")
    with engine.begin() as conn:
        first = seed(conn, document(provider_id))
        second = seed(conn, document(provider_id, name="Acme Care (renamed)"))
    assert first == second
    assert first.model_dump() == {
        "councils": 0,
        "providers": 1,
        "commissions": 0,
        "carers": 1,
        "devices": 1,
        "service_users": 1,
        "telephony_numbers": 0,
        "lots": 0,
    }
    with engine.connect() as conn:
        names = (
            conn.execute(text("select name from provider where id = :p"), {"p": provider_id})
            .scalars()
            .all()
        )
    assert names == ["Acme Care (renamed)"]


def test_records_must_name_a_known_provider(engine: Engine) -> None:
    orphan = RegistryDocument(carers=[Carer(id=unique("C"), provider_id=unique("P"), name="Z")])
    with pytest.raises(RegistryError, match="unknown provider"), engine.begin() as conn:
        seed(conn, orphan)


def test_councils_commission_providers_and_hold_service_users(engine: Engine) -> None:
    provider_id, council_id = unique("P"), unique("CC")
    doc = RegistryDocument(
        councils=[Council(id=council_id, name="Shire County Council")],
        providers=[Provider(id=provider_id, name="Acme Care")],
        commissions=[Commission(council_id=council_id, provider_id=provider_id, lot="North")],
        service_users=[ServiceUser(id=f"{provider_id}-SU1", name="Bea", council_id=council_id)],
    )
    with engine.begin() as conn:
        counts = seed(conn, doc)
    assert (counts.councils, counts.commissions, counts.service_users) == (1, 1, 1)
    with engine.connect() as conn:
        lot = conn.execute(
            text("select lot from commission where council_id = :c"), {"c": council_id}
        ).scalar_one()
        owner = conn.execute(
            text("select council_id from service_user where id = :s"), {"s": f"{provider_id}-SU1"}
        ).scalar_one()
    assert (lot, owner) == ("North", council_id)


def test_commissions_must_name_a_known_council(engine: Engine) -> None:
    provider_id = unique("P")
    doc = RegistryDocument(
        providers=[Provider(id=provider_id, name="Acme Care")],
        commissions=[Commission(council_id=unique("CC"), provider_id=provider_id)],
    )
    with pytest.raises(RegistryError, match="unknown council"), engine.begin() as conn:
        seed(conn, doc)


def test_device_keys_must_be_ed25519_public_keys() -> None:
    with pytest.raises(ValidationError):
        Device(id="D1", provider_id="P1", public_key="not-a-key")
    with pytest.raises(ValidationError):
        Device(id="D1", provider_id="P1", public_key="AAAA")

"""The gateway CA offline: what it signs, what it refuses, and the broker rules it renders."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.broker import render_dynsec_config
from gateway.pki.authority import CertificateAuthority, PkiError
from gateway.pki.layout import SERVICES, initialise, pki_layout


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path / "pki", "master")


def common_name(certificate: x509.Certificate) -> str:
    [attribute] = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attribute.value)


def test_a_device_certificate_names_the_device_and_is_signed_by_the_ca(
    ca: CertificateAuthority,
) -> None:
    issued = ca.issue_device("D0001")
    certificate = issued.certificate
    assert common_name(certificate) == "D0001"
    certificate.verify_directly_issued_by(ca.certificate)
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert certificate.not_valid_after_utc > datetime.now(UTC)


@pytest.mark.parametrize("device_id", ["#", "+", "a/b", "svc:ingest", "", "x" * 65, "D 1"])
def test_ids_that_could_name_a_wildcard_a_topic_level_or_a_service_are_refused(
    ca: CertificateAuthority, device_id: str
) -> None:
    with pytest.raises(PkiError):
        ca.issue_device(device_id)


def test_service_identities_carry_a_colon_no_device_id_can(ca: CertificateAuthority) -> None:
    assert common_name(ca.issue_service("ingest").certificate) == "svc:ingest"
    with pytest.raises(PkiError):
        ca.issue_service("Ingest:x")


def test_the_server_certificate_names_loopback_and_configured_hosts(
    ca: CertificateAuthority,
) -> None:
    server = ca.issue_server(["mosquitto"]).certificate
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost", "mosquitto"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


def test_the_pkcs12_bundle_opens_with_its_password_only(ca: CertificateAuthority) -> None:
    issued = ca.issue_device("D0002")
    bundle = issued.pkcs12("s3cret", ca.certificate)
    loaded = pkcs12.load_pkcs12(bundle, b"s3cret")
    assert loaded.cert is not None and loaded.cert.certificate == issued.certificate
    assert [c.certificate for c in loaded.additional_certs] == [ca.certificate]
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12(bundle, b"wrong")


def test_the_crl_lists_revoked_serials_and_is_signed_by_the_ca(ca: CertificateAuthority) -> None:
    kept, revoked = ca.issue_device("D0003"), ca.issue_device("D0003")
    crl = x509.load_pem_x509_crl(ca.crl([(revoked.serial, datetime.now(UTC))]))
    assert crl.is_signature_valid(ca.certificate.public_key())  # type: ignore[arg-type]
    assert crl.get_revoked_certificate_by_serial_number(revoked.serial) is not None
    assert crl.get_revoked_certificate_by_serial_number(kept.serial) is None


def test_the_ca_key_is_encrypted_0600_and_needs_the_master_key(tmp_path: Path) -> None:
    layout = pki_layout(tmp_path)
    initialise(layout, "master", ["mosquitto"], SERVICES)
    key_file = layout.root / "ca.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert b"ENCRYPTED" in key_file.read_bytes()
    for name in SERVICES:
        assert oct(layout.service_cert(name)[1].stat().st_mode & 0o777) == "0o600"
    with pytest.raises(PkiError, match="wrong ECM_MASTER_KEY"):
        CertificateAuthority.load(layout.root, "another")
    # Idempotent: a second run keeps the CA (and so every identity already handed out).
    before = layout.ca_file.read_bytes()
    initialise(layout, "master", ["mosquitto"], SERVICES)
    assert layout.ca_file.read_bytes() == before


def test_broker_rules_deny_by_default_and_scope_each_device_to_its_own_topics() -> None:
    rules = json.loads(render_dynsec_config(["ingest"], ["D1"]))
    assert not any(rules["defaultACLAccess"][k] for k in ("publishClientSend", "subscribe"))
    [device_role] = [r for r in rules["roles"] if r["rolename"] == "device:D1"]
    topics = {(a["acltype"], a["topic"], a["allow"]) for a in device_role["acls"]}
    assert topics == {
        ("publishClientSend", "ecm/v1/devices/D1/commands", False),
        ("publishClientSend", "ecm/v1/devices/D1/receipts", False),
        ("publishClientSend", "ecm/v1/devices/D1/#", True),
        ("subscribeLiteral", "ecm/v1/devices/D1/commands", True),
        ("publishClientReceive", "ecm/v1/devices/D1/commands", True),
        ("subscribeLiteral", "ecm/v1/devices/D1/receipts", True),
        ("publishClientReceive", "ecm/v1/devices/D1/receipts", True),
    }
    [ingest] = [r for r in rules["roles"] if r["rolename"] == "service:ingest"]
    assert ("publishClientSend", "ecm/v1/devices/+/receipts") in {
        (a["acltype"], a["topic"]) for a in ingest["acls"]
    }
    assert {c["username"] for c in rules["clients"]} == {"svc:ingest", "D1"}


def test_session_client_ids_are_stable_prefixed_and_keyed_by_the_master_key() -> None:
    from core.settings import Settings
    from gateway.pki.identity import session_client_id

    one, other = Settings(master_key="one"), Settings(master_key="other")
    client_id = session_client_id(one, "ingest-host-0")
    assert client_id.startswith("ecm-ingest-host-0-")
    assert session_client_id(one, "ingest-host-0") == client_id
    assert session_client_id(other, "ingest-host-0") != client_id
    assert session_client_id(one, "ingest-host-1") != client_id

"""docs/protocol.md must stay true to the code: the worked example and the quarantine reasons."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.protocol import (
    EventClaims,
    Rejection,
    b64url_decode,
    carer_message,
    parse_compact,
    parse_receipt,
    public_key_from_b64,
)
from gateway.protocol.example import worked_example

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "protocol.md"
COMPACT_JWS = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# The RFC 8037 appendix A.1 public key, written out so a change to the example's key shows.
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text()


@pytest.fixture(scope="module")
def example() -> dict[str, object]:
    return worked_example()


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def test_doc_contains_the_worked_example_verbatim(doc: str, example: dict[str, object]) -> None:
    for key in ("jws", "signing_input", "signature", "protected_header", "claims", "topic"):
        value = example[key]
        assert isinstance(value, str)
        assert value in doc, f"docs/protocol.md is missing the example's {key}"
    protected, payload, _ = str(example["jws"]).split(".")
    assert protected in doc and payload in doc


def test_every_jws_in_the_doc_is_the_example(doc: str, example: dict[str, object]) -> None:
    tokens = set(COMPACT_JWS.findall(doc))
    assert tokens == {example["jws"]}


def test_doc_keys_are_the_rfc8037_test_key(doc: str, example: dict[str, object]) -> None:
    jwk = example["private_key_jwk"]
    assert isinstance(jwk, dict)
    assert jwk["x"] == RFC8037_X
    blocks = [json.loads(block) for block in code_blocks(doc, "json") if '"kty"' in block]
    private = [b for b in blocks if "d" in b]
    public = [b for b in blocks if "d" not in b]
    assert private == [jwk]
    assert public == [{"kty": "OKP", "crv": "Ed25519", "x": jwk["x"]}]
    assert "RFC 8037 appendix A.1" in doc and "Never use it on a real device" in doc


def test_doc_token_verifies_with_doc_public_key(doc: str) -> None:
    (token,) = set(COMPACT_JWS.findall(doc))
    (public,) = [
        json.loads(block)
        for block in code_blocks(doc, "json")
        if '"kty"' in block and '"d"' not in block
    ]
    signed = parse_compact(token.encode("ascii"))
    assert signed.header == {"alg": "EdDSA", "kid": "D0001"}
    signed.verify(public_key_from_b64(public["x"]))
    claims = EventClaims.model_validate_json(signed.payload)
    assert claims.device_id == signed.kid


def test_doc_private_key_reproduces_the_signature(doc: str, example: dict[str, object]) -> None:
    (private,) = [json.loads(block) for block in code_blocks(doc, "json") if '"d"' in block]
    key = Ed25519PrivateKey.from_private_bytes(b64url_decode(private["d"]))
    signing_input = str(example["signing_input"]).encode("ascii")
    assert key.sign(signing_input) == b64url_decode(str(example["signature"]))


def test_doc_mosquitto_pub_command(doc: str, example: dict[str, object]) -> None:
    (block,) = [b for b in code_blocks(doc, "sh") if "mosquitto_pub" in b]
    command = block.replace("\\\n", " ")
    assert "-q 1" in command
    assert f"-t {example['topic']}" in command
    assert f"-m '{example['jws']}'" in command


def test_verify_snippet_runs(doc: str, capsys: pytest.CaptureFixture[str]) -> None:
    (snippet,) = [b for b in code_blocks(doc, "python") if ".verify(" in b]
    exec(compile(snippet, "docs/protocol.md", "exec"), {})
    assert "'event_id': '0b7f9a52-3c1e-4d8a-9f5e-2a6c1d4e8b90'" in capsys.readouterr().out


@pytest.mark.parametrize("reason", list(Rejection), ids=lambda r: r.value)
def test_every_rejection_is_documented(doc: str, reason: Rejection) -> None:
    assert re.search(rf"^\| `{re.escape(reason.value)}` \| ", doc, flags=re.M), (
        f"docs/protocol.md has no quarantine-table row for {reason.value}"
    )


def test_doc_states_the_size_limit_of_the_code(doc: str) -> None:
    from gateway.protocol.jws import MAX_TOKEN_BYTES

    assert MAX_TOKEN_BYTES == 16 * 1024
    assert "16 KiB" in doc and "16,384 bytes" in doc


def test_every_claim_field_is_documented(doc: str) -> None:
    from gateway.protocol.claims import GpsFix, LandlineCall, TagReading

    fields = [*EventClaims.model_fields]
    fields += [f"tag.{name}" for name in TagReading.model_fields]
    fields += [f"gps.{name}" for name in GpsFix.model_fields]
    fields += [f"landline.{name}" for name in LandlineCall.model_fields]
    for field in fields:
        assert re.search(rf"^\| `{re.escape(field)}` \| ", doc, flags=re.M), field


def test_doc_contains_the_receipt_example(doc: str, example: dict[str, object]) -> None:
    """The receipt example is what ingest's encoder produces, and reads back as documented."""
    receipt = str(example["receipt"])
    assert example["receipt_topic"] == "ecm/v1/devices/D0001/receipts"
    assert str(example["receipt_topic"]) in doc
    assert any(block.strip() == receipt for block in code_blocks(doc, "json"))
    entries = parse_receipt(receipt.encode())
    shown = example["carer_shown"]
    assert isinstance(shown, dict)
    for entry in entries:
        words = carer_message(entry)
        assert shown[str(entry.event_id)] == words
        # The doc names each example event next to what the carer is shown.
        assert str(entry.event_id) in doc and f'"{words}"' in doc


def test_every_carer_message_is_documented(doc: str) -> None:
    from gateway.protocol.receipts import CARER_WORDS, COUNTED, NOT_COUNTED

    for words in {COUNTED, NOT_COUNTED, *CARER_WORDS.values()}:
        assert re.search(rf"\| {re.escape(words)} \|$", doc, flags=re.M), words
    for reason, words in CARER_WORDS.items():
        row = next(line for line in doc.splitlines() if line.endswith(f"| {words} |"))
        assert f"`{reason}`" in row, (reason, row)


def test_doc_retry_rule_matches_the_reference_handset(doc: str) -> None:
    from firmware_sim.receipts import MAX_BACKOFF_S, RECEIPT_TIMEOUT_S

    assert f"first {RECEIPT_TIMEOUT_S:.0f} s after the publish" in doc
    assert f"up to {MAX_BACKOFF_S / 60:.0f} minutes" in doc
    assert "random 50-100%" in doc


def test_doc_no_longer_claims_unenforced_rules(doc: str) -> None:
    for stale in ("does not yet enforce", "happens to accept", "not above the last"):
        assert stale not in doc

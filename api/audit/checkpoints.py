"""Signed checkpoints of the audit chain's head: how many entries it had and the last one's hash.

A checkpoint is signed with Ed25519 by a service key that lives apart from the database, in
`ECM_AUDIT_KEY_DIR` (default `<state>/audit`): `checkpoint.key` (PKCS#8, encrypted under a key
derived from ECM_MASTER_KEY, mode 0600) and `checkpoint.pub`. Someone who can change the
database but has neither that key nor the master key cannot make a checkpoint; so once one is
written, removing entries from the end of the chain, or rewriting and re-hashing it, shows up
in `ecm audit verify`.

Each checkpoint is stored twice: in `audit_checkpoint` (append-only, like the trail) and as one
JSON line in `checkpoints.jsonl` next to the key. Verify takes the union, so deleting the latest
checkpoints from the database does not hide a cut while the file has them (and the reverse).
Keep copies of the file (or of `ecm audit checkpoint`'s output) somewhere else again for the
strongest guarantee: see docs/auth.md, "Threat model".
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection

from api.audit import repository
from api.audit.chain import GENESIS
from core.settings import Settings

Kind = Literal["head", "purge"]
KEY_FILE = "checkpoint.key"
PUBLIC_FILE = "checkpoint.pub"
LOG_FILE = "checkpoints.jsonl"


class CheckpointError(RuntimeError):
    pass


@dataclass(frozen=True)
class Checkpoint:
    at: datetime
    kind: str
    entries: int
    head_hash: str
    key_id: str
    signature: str

    @property
    def at_text(self) -> str:
        return self.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    def statement(self) -> bytes:
        return statement(self.at, self.kind, self.entries, self.head_hash)

    def to_json(self) -> str:
        fields = asdict(self)
        fields["at"] = self.at.astimezone(UTC).isoformat(timespec="microseconds")
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> Checkpoint:
        at = data["at"]
        if isinstance(at, str):
            at = datetime.fromisoformat(at)
        return cls(
            at=at,
            kind=str(data["kind"]),
            entries=int(data["entries"]),
            head_hash=str(data["head_hash"]),
            key_id=str(data["key_id"]),
            signature=str(data["signature"]),
        )


def statement(at: datetime, kind: str, entries: int, head_hash: str) -> bytes:
    """What is signed: the checkpoint's fields as canonical JSON."""
    fields = {
        "v": 1,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "kind": kind,
        "entries": entries,
        "head_hash": head_hash,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def key_dir(settings: Settings) -> Path:
    return settings.audit_key_dir or settings.state_dir / "audit"


def _key_password(master_key: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"ecm audit checkpoint key"
    ).derive(master_key.encode())


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def signing_key(settings: Settings, *, create: bool = True) -> Ed25519PrivateKey:
    """The checkpoint key, made on first use (`ecm audit checkpoint`, the housekeeping role)."""
    folder = key_dir(settings)
    path = folder / KEY_FILE
    if not path.exists():
        if not create:
            raise CheckpointError(f"no audit checkpoint key at {path}")
        key = Ed25519PrivateKey.generate()
        _write_private(
            path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(_key_password(settings.master_key)),
            ),
        )
        (folder / PUBLIC_FILE).write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return key
    try:
        loaded = serialization.load_pem_private_key(
            path.read_bytes(), password=_key_password(settings.master_key)
        )
    except ValueError:
        raise CheckpointError(f"cannot decrypt {path}: wrong ECM_MASTER_KEY?") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise CheckpointError(f"{path} is not an Ed25519 key")
    return loaded


def public_keys(settings: Settings) -> dict[str, Ed25519PublicKey]:
    """Every public key in the key folder (`*.pub`), by key id: the current one and any kept
    from before a key rotation, so old checkpoints still verify."""
    keys: dict[str, Ed25519PublicKey] = {}
    folder = key_dir(settings)
    if not folder.is_dir():
        return keys
    for path in sorted(folder.glob("*.pub")):
        loaded = serialization.load_pem_public_key(path.read_bytes())
        if isinstance(loaded, Ed25519PublicKey):
            keys[key_id(loaded)] = loaded
    return keys


def sign(key: Ed25519PrivateKey, at: datetime, kind: Kind, entries: int, head: str) -> Checkpoint:
    signature = key.sign(statement(at, kind, entries, head))
    return Checkpoint(
        at=at,
        kind=kind,
        entries=entries,
        head_hash=head,
        key_id=key_id(key.public_key()),
        signature=base64.urlsafe_b64encode(signature).rstrip(b"=").decode(),
    )


def signature_valid(checkpoint: Checkpoint, keys: dict[str, Ed25519PublicKey]) -> bool:
    public_key = keys.get(checkpoint.key_id)
    if public_key is None:
        return False
    padded = checkpoint.signature + "=" * (-len(checkpoint.signature) % 4)
    try:
        public_key.verify(base64.urlsafe_b64decode(padded), checkpoint.statement())
    except (InvalidSignature, ValueError):
        return False
    return True


def _append_to_log(settings: Settings, checkpoint: Checkpoint) -> None:
    path = key_dir(settings) / LOG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:
        log.write(checkpoint.to_json() + "\n")
        log.flush()
        os.fsync(log.fileno())


def record(settings: Settings, conn: Connection, checkpoint: Checkpoint) -> None:
    """Store a checkpoint in the database (committed with the caller's transaction) and in the
    log file next to the key (at once)."""
    repository.insert_checkpoint(conn, checkpoint)
    _append_to_log(settings, checkpoint)


def write_head(settings: Settings, conn: Connection, now: datetime | None = None) -> Checkpoint:
    """Sign the chain's head as it is now. Takes the append lock, so no entry can join the
    chain between reading the head and signing it."""
    key = signing_key(settings)
    repository.lock_tail(conn)
    last = repository.tail(conn)
    entries, head = last if last else (0, GENESIS)
    checkpoint = sign(key, now or datetime.now(UTC), "head", entries, head)
    record(settings, conn, checkpoint)
    return checkpoint


def write_head_if_grown(
    settings: Settings, conn: Connection, now: datetime | None = None
) -> Checkpoint | None:
    """A head checkpoint, unless the latest one already signs the head as it is."""
    last = repository.tail(conn)
    if last is not None and repository.latest_checkpoint_head(conn) == last:
        return None
    return write_head(settings, conn, now)


@dataclass(frozen=True)
class Loaded:
    valid: list[Checkpoint]
    # Checkpoints whose signature does not verify under any known key: forged or damaged.
    invalid: list[Checkpoint]


def load(settings: Settings, conn: Connection) -> Loaded:
    """Checkpoints from the database and the log file, without duplicates, split by whether
    their signature verifies."""
    found: dict[tuple[str, str], Checkpoint] = {}
    for row in repository.checkpoints(conn):
        checkpoint = Checkpoint.from_mapping(row)
        found[(checkpoint.signature, checkpoint.head_hash)] = checkpoint
    path = key_dir(settings) / LOG_FILE
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                checkpoint = Checkpoint.from_mapping(json.loads(line))
                found[(checkpoint.signature, checkpoint.head_hash)] = checkpoint
    keys = public_keys(settings)
    valid: list[Checkpoint] = []
    invalid: list[Checkpoint] = []
    for checkpoint in sorted(found.values(), key=lambda c: (c.entries, c.at)):
        (valid if signature_valid(checkpoint, keys) else invalid).append(checkpoint)
    return Loaded(valid, invalid)

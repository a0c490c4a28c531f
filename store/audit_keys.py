"""The audit log's signing key and the local copy of its signed heads, in DATA_DIR/audit/.

The private key is made on first start (Ed25519, PEM, 0600) unless the deployment supplies one
(`AUDIT_SIGNING_KEY`: a PEM file, e.g. from a secrets store); only the ingest worker signs. The
public key sits beside it for `audit verify`. Each head the worker signs is also appended to
`heads.jsonl` there: a copy outside Redis, so that a rewrite of the whole chain in Redis (heads
included) still shows against it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from store.files import replace_file

PRIVATE, PUBLIC, HEADS = "ed25519.pem", "ed25519.pub.pem", "heads.jsonl"


def folder(data_dir: Path) -> Path:
    return Path(data_dir) / "audit"


def public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def signing_key(data_dir: Path, supplied: Path | None = None) -> Ed25519PrivateKey:
    """The supplied key, or the one in DATA_DIR (made now if there is none); its public key is
    (re)written beside it. A supplied key that is not there is an error, never made: a new key
    would replace the public key every head signed so far is checked with, and they would all
    read as forged (a secrets mount missing, a typo in the path)."""
    if supplied is not None and not supplied.exists():
        raise FileNotFoundError(
            f"AUDIT_SIGNING_KEY {supplied}: no such file. A supplied key is never made here "
            "(a new one would make every head signed before look forged): mount it, or unset "
            "AUDIT_SIGNING_KEY to use the key kept in DATA_DIR/audit"
        )
    where = folder(data_dir)
    where.mkdir(parents=True, exist_ok=True)
    path = supplied or where / PRIVATE
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path}: not an Ed25519 private key")
    else:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        replace_file(path, pem, 0o600)
    if not (where / PUBLIC).exists() or (where / PUBLIC).read_bytes() != public_pem(key):
        replace_file(where / PUBLIC, public_pem(key), 0o644)
    return key


def public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path}: not an Ed25519 public key")
    return key


def keep_head(data_dir: Path, signed: dict[str, Any]) -> None:
    """Append a signed head to the local copy (one JSON object per line)."""
    path = folder(data_dir) / HEADS
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    with os.fdopen(fd, "ab") as f:
        f.write(orjson.dumps(signed, option=orjson.OPT_SORT_KEYS) + b"\n")


def read_heads(path: Path) -> list[dict[str, Any]]:
    """Heads from a heads.jsonl (the local copy or an export); unreadable lines are skipped
    (a signature check would refuse them anyway)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_bytes().splitlines():
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(doc, dict):
            out.append(doc)
    return out

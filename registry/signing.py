"""The hub's release-signing key (Ed25519): sign release manifests, serve the public key, verify signatures.

The private key comes from RELEASE_SIGNING_KEY (PEM, PKCS#8; RELEASE_SIGNING_KEY_FILE works like the other secrets).
Without it, embedded/development mode (DEBUG on) generates a key once and keeps it in VAR_DIR/release-signing-key.pem;
with DEBUG off, publishing fails with a clear reason until a key is configured.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings


class SigningKeyMissing(RuntimeError):
    pass


def _generated_key_path() -> Path:
    return Path(settings.VAR_DIR) / "release-signing-key.pem"


@lru_cache(maxsize=4)
def _load(pem: str, generated_path: str) -> Ed25519PrivateKey:
    if pem:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyMissing("RELEASE_SIGNING_KEY must be an Ed25519 private key (PEM, PKCS#8)")
        return key
    if not settings.DEBUG:
        raise SigningKeyMissing("no release-signing key: set RELEASE_SIGNING_KEY (an Ed25519 private key, PEM)")
    path = Path(generated_path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(loaded, Ed25519PrivateKey)
    return loaded


def signing_private_key() -> Ed25519PrivateKey:
    return _load(settings.RELEASE_SIGNING_KEY, str(_generated_key_path()))


def signing_public_key_pem() -> bytes:
    return signing_private_key().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(public_pem: bytes | None = None) -> str:
    """sha256 (hex) of the raw public key: names the key in manifests and release records."""
    public = _public_from_pem(public_pem) if public_pem else signing_private_key().public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def sign(data: bytes) -> str:
    return base64.b64encode(signing_private_key().sign(data)).decode("ascii")


def _public_from_pem(public_pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(public_pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def verify(data: bytes, signature_b64: str, public_pem: bytes) -> bool:
    try:
        signature = base64.b64decode(signature_b64.strip(), validate=True)
        _public_from_pem(public_pem).verify(signature, data)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True

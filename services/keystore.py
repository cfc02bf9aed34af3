"""Encryption of stored provider keys: MultiFernet over `ENCRYPTION_KEY` (newest key first).

Every process encrypts with the first key and decrypts with any of them, so an operator rotates
by prepending a new key everywhere, running `python -m scripts.rotate_keys` (which re-encrypts each
stored key under the newest), and later dropping the old key from the list.
"""
from __future__ import annotations

import base64
import hashlib
import logging
from typing import Callable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import ProviderKey
from settings import Settings

log = logging.getLogger(__name__)

_DEV_KEY_CONTEXT = b"chat-studio/dev-encryption-key/v1:"


def dev_encryption_key(jwt_secret: str) -> str:
    """A Fernet key derived from the JWT secret: the zero-configuration default outside production.

    Derived rather than generated so every web and worker process of a local run agrees on it
    with no shared file; production refuses to start without a real `ENCRYPTION_KEY`.
    """
    return base64.urlsafe_b64encode(hashlib.sha256(_DEV_KEY_CONTEXT + jwt_secret.encode()).digest()).decode()


def key_list(settings: Settings) -> list[str]:
    if settings.encryption_key:
        return [k.strip() for k in settings.encryption_key.split(",") if k.strip()]
    return [dev_encryption_key(settings.jwt_secret_key)]


def key_ring(settings: Settings) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in key_list(settings)])


class KeyDecryptionError(Exception):
    """A stored key that none of the configured encryption keys opens (a key was dropped too early)."""


def decrypt(ring: MultiFernet, token: bytes) -> str:
    try:
        return ring.decrypt(bytes(token)).decode()
    except InvalidToken:
        raise KeyDecryptionError("stored provider key cannot be decrypted with ENCRYPTION_KEY") from None


def encrypt(ring: MultiFernet, plaintext: str) -> bytes:
    return ring.encrypt(plaintext.encode())


def rotate_all(session_factory: Callable[[], Session], ring: MultiFernet, batch_size: int = 500) -> dict[str, int]:
    """Re-encrypt every stored key under the newest encryption key, one committed batch at a time.

    Idempotent: a key already under the newest key is re-encrypted again (Fernet tokens carry a
    fresh IV and timestamp), which is harmless, so an interrupted run can simply be repeated.
    Keys that no configured key opens are counted and left as they are.
    """
    rotated = failed = 0
    after = ""
    while True:
        s = session_factory()
        try:
            rows = s.scalars(select(ProviderKey).where(ProviderKey.id > after).order_by(ProviderKey.id)
                             .limit(batch_size).with_for_update()).all()
            if not rows:
                s.rollback()
                break
            for row in rows:
                try:
                    token = ring.rotate(bytes(row.ciphertext))
                except InvalidToken:
                    failed += 1
                    log.error("provider key %s cannot be decrypted with any ENCRYPTION_KEY entry", row.id)
                else:
                    # updated_at keeps its value: the user's key did not change, only its wrapping.
                    s.execute(update(ProviderKey).where(ProviderKey.id == row.id)
                              .values(ciphertext=token, updated_at=row.updated_at))
                    rotated += 1
            after = rows[-1].id
            s.commit()
        finally:
            s.close()
    return {"rotated": rotated, "failed": failed}

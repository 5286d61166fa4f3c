"""API keys: kept and compared only as SHA-256 digests."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_accepted(header: str | None, key_hashes: Iterable[str]) -> bool:
    """Does an Authorization header carry a Bearer key whose digest is one of `key_hashes`?"""
    if not header or not header.startswith("Bearer "):
        return False
    digest = hash_key(header[len("Bearer "):].strip())
    return any(hmac.compare_digest(digest, known) for known in key_hashes)

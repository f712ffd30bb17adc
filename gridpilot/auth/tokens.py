"""Secret tokens (API keys, device credentials) and JWT access tokens.

Tokens carry 160+ bits of randomness, so a plain SHA-256 is a safe way to store them
(no password stretching needed) and keeps the per-request check cheap.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

import jwt

API_KEY_PREFIX = "gpk_"
DEVICE_CREDENTIAL_PREFIX = "gpd_"
_JWT_ALGORITHM = "HS256"


def new_token(prefix: str) -> str:
    """A fresh random secret with a recognizable prefix."""
    return prefix + secrets.token_urlsafe(30)


def hash_token(token: str) -> str:
    """The stored form of a secret token."""
    return hashlib.sha256(token.encode()).hexdigest()


def mosquitto_password_hash(secret: str, *, salt: bytes | None = None, iterations: int = 101) -> str:
    """`secret` hashed as Mosquitto 2's password file expects (`$7$` PBKDF2-SHA512), so the broker can check it."""
    salt = secrets.token_bytes(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def issue_jwt(*, secret: str, operator_id: int, role: str, now: datetime, ttl_s: int) -> str:
    """A signed, short-lived access token for an operator."""
    claims = {"sub": str(operator_id), "role": role, "iat": now, "exp": now + timedelta(seconds=ttl_s)}
    return jwt.encode(claims, secret, algorithm=_JWT_ALGORITHM)


def decode_jwt(token: str, *, secret: str) -> dict[str, Any]:
    """The claims of a valid token; raises jwt.InvalidTokenError otherwise."""
    return jwt.decode(token, secret, algorithms=[_JWT_ALGORITHM], options={"require": ["sub", "exp", "role"]})

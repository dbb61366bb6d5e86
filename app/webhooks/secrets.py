"""Webhook signing secrets: made here, shown once, stored encrypted.

A Standard Webhooks secret must be at hand to sign each delivery, so unlike an API key it cannot be
kept as a hash. It is stored as a Fernet token (AES-128-CBC with an HMAC-SHA256), under a key
derived from the service's own signing key (`WORKPLAN_SECRET_KEY`, or the generated key file): a
copy of the database alone does not reveal any secret. Changing the service's key makes the stored
secrets unreadable: rotate every subscription's secret after it.
"""

import base64
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.config import get_settings

PREFIX = "whsec_"  # as Standard Webhooks' libraries expect it


def _fernet() -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"workplan webhook secrets").derive(
        get_settings().signing_key
    )
    return Fernet(base64.urlsafe_b64encode(key))


def new_secret() -> str:
    """A new secret, `whsec_` and 32 random bytes in base64, as Standard Webhooks' libraries read it."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def seal_secret(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def open_secret(token: str) -> str:
    """The secret a token holds; ValueError if the service's signing key has changed since."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("The webhook secret cannot be decrypted: the service's secret key changed.") from None

"""Secrets kept encrypted at rest, so that a read of the database alone does not reveal them.

Some secrets must be recoverable (a webhook secret is an HMAC key: the bank signs with the
secret itself, so it cannot keep only a hash as it does for passwords). They are stored
encrypted with Fernet (AES-CBC with an HMAC, from `cryptography`) under a key that is never
in the database: from the environment, or generated once into instance/ (mode 0600).

A key setting may list several keys, comma-separated: the first encrypts, any of them
decrypts, so a key can be rotated without losing what the old one encrypted.
"""
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from config import StartupError


class SecretKeyError(StartupError, RuntimeError):
    """The configured key is not a Fernet key, or does not open a stored secret."""


def new_key():
    """A fresh key: 32 random bytes, url-safe base64, as Fernet expects."""
    return Fernet.generate_key().decode()


def _fernet(keys):
    try:
        return MultiFernet([Fernet(key.strip()) for key in keys.split(",") if key.strip()])
    except ValueError as exc:  # wrong length or alphabet, or no key at all
        raise SecretKeyError(
            "The secrets key must be Fernet keys (32 url-safe base64 bytes), comma-separated; "
            "make one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        ) from exc


def check_keys(keys):
    """Fail at start-up, with a sentence, on a key setting that could never work."""
    _fernet(keys)
    return keys


def encrypt(plaintext, keys):
    return _fernet(keys).encrypt(plaintext.encode()).decode()


def decrypt(token, keys):
    try:
        return _fernet(keys).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretKeyError("A stored secret does not open with the configured key: "
                             "was the key changed without keeping the old one in the list?") from None

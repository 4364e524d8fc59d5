"""How the bank keeps a card's PIN: a keyed hash (HMAC-SHA256 with a pepper), not a slow password hash.

Why not scrypt, as for passwords? A PIN has 10,000 values (4 digits; 6 digits, a million). A slow
hash cannot protect that: at 210 ms per scrypt verify, one core tries all 4-digit PINs of a stolen
row in 35 minutes, so the cost protected nothing while it capped the bank at about 9 PIN approvals
a second on 2 cores. What does protect a PIN:
- online, the lockout: 5 wrong PINs in a row block the card (cards.check_card_pin), so a guesser
  gets 5 of 10,000 chances however fast the check is;
- offline, a secret the database does not hold: the pepper, a 256-bit key from BANK_PIN_PEPPER or
  generated once into instance/ (mode 0600). A copy of the database alone gives HMACs under an
  unknown key, which no amount of guessing opens.
Each PIN also gets its own random salt, so two customers with the same PIN have different hashes.
Passwords stay on scrypt: they have far more values, and no lockout stands in front of them offline.

Stored as `hmac-sha256$<key id>$<salt hex>$<digest hex>`. The key id (the first 8 hex digits of the
key's SHA-256) lets BANK_PIN_PEPPER list several keys, comma-separated: the first hashes new PINs,
any of them checks, so a key can be rotated. A PIN stored by an older version (werkzeug's
`scrypt:…`) is still checked, and moved to the keyed hash the first time it is entered right.
"""
import hashlib
import hmac
import secrets

from werkzeug.security import check_password_hash

from config import StartupError

SCHEME = "hmac-sha256"


class PinPepperError(StartupError, RuntimeError):
    """BANK_PIN_PEPPER is not a list of 64-hex-digit keys."""


def new_pepper():
    return secrets.token_hex(32)


def parse_peppers(setting):
    """The keys of a BANK_PIN_PEPPER setting (comma-separated hex), checked: the first is current."""
    keys = [part.strip() for part in (setting or "").split(",") if part.strip()]
    try:
        peppers = [bytes.fromhex(key) for key in keys]
    except ValueError:
        raise PinPepperError("BANK_PIN_PEPPER must be hex keys (64 hex digits each), comma-separated.") from None
    if not peppers or any(len(pepper) < 32 for pepper in peppers):
        raise PinPepperError("BANK_PIN_PEPPER must hold at least one key of 64 hex digits (32 bytes).")
    return peppers


def _key_id(pepper):
    return hashlib.sha256(pepper).hexdigest()[:8]


def _digest(pepper, salt, pin):
    return hmac.new(pepper, salt + pin.encode("utf-8"), hashlib.sha256).hexdigest()


def hash_pin(pin, peppers):
    """The stored form of `pin`, under the current (first) pepper."""
    salt = secrets.token_bytes(16)
    return f"{SCHEME}${_key_id(peppers[0])}${salt.hex()}${_digest(peppers[0], salt, pin)}"


def check_pin(stored, pin, peppers):
    """(right, should_rehash): whether `pin` matches `stored`, and whether to store it anew (an old
    scheme, or a key that is no longer the current one)."""
    if not stored.startswith(SCHEME + "$"):
        return check_password_hash(stored, pin), True  # an older version's scrypt hash
    try:
        _, key_id, salt, digest = stored.split("$")
        salt = bytes.fromhex(salt)
    except ValueError:
        return False, False
    for index, pepper in enumerate(peppers):
        if _key_id(pepper) == key_id:
            return hmac.compare_digest(_digest(pepper, salt, pin), digest), index != 0
    return False, False  # hashed under a key that is not configured any more: no PIN can match

"""Security helpers shared by the bank (signer) and the shop (verifier).

The webhook signature follows the published contract:
`Bank-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
Signing the timestamp with the body stops an old, valid event from being replayed.
"""
import hashlib
import hmac
import re
import time
from urllib.parse import urlsplit

from werkzeug.security import check_password_hash, generate_password_hash


class SignatureError(ValueError):
    """A webhook whose signature is missing, malformed, wrong or too old."""


def luhn_check_digit(digits):
    """The digit that makes `digits + check` pass the Luhn test."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number):
    return number.isdigit() and len(number) >= 2 and luhn_check_digit(number[:-1]) == number[-1]


def normalise_card_number(text):
    """Drop spaces and dashes a person types between groups of digits."""
    return "".join(ch for ch in str(text) if ch not in " -")


def sign_webhook(secret, body, timestamp=None):
    """The `Bank-Signature` header value for a raw body (bytes)."""
    timestamp = int(time.time() if timestamp is None else timestamp)
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_webhook_signature(secret, header, body, tolerance=300, now=None):
    """Check a `Bank-Signature` header against the raw body; raise SignatureError if it fails."""
    if not header:
        raise SignatureError("missing Bank-Signature header")
    parts = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise SignatureError("malformed Bank-Signature header") from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise SignatureError("timestamp outside the tolerance window")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, given) for given in parts.get("v1", [])):
        raise SignatureError("signature does not match")
    return timestamp


# --- small rules every server follows ------------------------------------------------------

# OAuth client credentials an operator gives (a deployment's configuration, the same on every host), for
# the bank's merchants and PayLab ID's clients alike: long enough to be secrets, in characters that travel
# in headers and forms unchanged.
GIVEN_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{4,64}")
GIVEN_SECRET = re.compile(r"[A-Za-z0-9_-]{24,128}")
_UNSAFE_IN_A_PATH = re.compile(r"[\x00-\x1f\x7f\\]")


def local_path_or(target, prefix, fallback):
    """`target` if it is a path under `prefix` on this site, else `fallback`: a `next` parameter can
    never send anyone to another site (no scheme, no host, no `//` or backslash tricks), nor break
    the Location header (no control characters)."""
    target = target if isinstance(target, str) else ""
    if not target.startswith(prefix) or target.startswith("//") or _UNSAFE_IN_A_PATH.search(target):
        return fallback
    parsed = urlsplit(target)
    return fallback if parsed.scheme or parsed.netloc else target


def token_hash(token):
    """What is stored of a bearer token, device token or session id: its SHA-256, so that a read
    of the database alone does not hand anyone a credential."""
    return hashlib.sha256((token or "").encode()).hexdigest()


# A hash to check against when an account is unknown: both answers then cost one password hash.
_NOBODY = generate_password_hash("nobody-has-this-password")


def account_if_password_matches(account, password):
    """`account` if `password` is its password, else None; an unknown account (None) costs the
    same hash as a known one, so timing does not tell which usernames or emails exist."""
    if account is None:
        check_password_hash(_NOBODY, password or "")
        return None
    return account if account.check_password(password or "") else None

"""Security helpers shared by the bank (signer) and the shop (verifier).

The webhook signature follows the published contract:
`Bank-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
Signing the timestamp with the body stops an old, valid event from being replayed.
"""
import hashlib
import hmac
import time


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

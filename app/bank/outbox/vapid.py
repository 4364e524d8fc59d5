"""The bank's VAPID identity for Web Push: a P-256 key generated into instance/ on the first run.

Push services only accept messages signed with the key a subscription was made
for, so the key must survive restarts; the browser gets the public half as
`applicationServerKey`. The `sub` claim tells push services whom to contact.
"""
import base64
import logging
import re
from urllib.parse import urlparse

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid

from config import StartupError

from ...common.instance import read_or_create_secret

log = logging.getLogger(__name__)
RAW_PRIVATE_KEY = re.compile(r"[A-Za-z0-9_-]{43}=?")
PLACEHOLDER_HOSTS = ("example.com", "example.org", "example.net", "localhost", "invalid", "test", "local")


class InvalidVapidSubject(ValueError):
    pass


def validate_vapid_subject(subject):
    """Return (subject, warnings). Must be mailto: or https:; placeholder hosts only warn (Apple rejects them)."""
    subject = (subject or "").strip()
    parsed = urlparse(subject)
    if parsed.scheme == "mailto":
        host = subject.partition("@")[2]
        if not parsed.path or "@" not in parsed.path or not host:
            raise InvalidVapidSubject(f"VAPID_SUBJECT {subject!r} must be mailto:you@your-domain")
    elif parsed.scheme == "https":
        host = parsed.hostname or ""
        if not host:
            raise InvalidVapidSubject(f"VAPID_SUBJECT {subject!r} must be an https:// URL with a host")
    else:
        raise InvalidVapidSubject(f"VAPID_SUBJECT {subject!r} must start with mailto: or https:")
    warnings = []
    host = host.lower().rstrip(".")
    if any(host == p or host.endswith("." + p) for p in PLACEHOLDER_HOSTS):
        warnings.append(f"VAPID_SUBJECT uses the placeholder host {host!r}: Apple's push service rejects it. "
                        "Set VAPID_SUBJECT=mailto:you@your-real-domain to reach iPhones.")
    return subject, warnings


def on_this_computer_only(public_url):
    """Whether PUBLIC_URL is localhost: no phone, so no push service (Apple's or any), reaches it."""
    host = (urlparse(public_url).hostname or "").lower().rstrip(".")
    return host in ("localhost", "::1") or host.endswith(".localhost") or host.startswith("127.")


class InvalidVapidKey(StartupError, ValueError):
    pass


def _new_private_pem():
    vapid = Vapid()
    vapid.generate_keys()
    return vapid.private_pem().decode()


def load_vapid(config, instance_path):
    """The bank's Vapid key: VAPID_PRIVATE_KEY, else one created once into instance/ (mode 0600).

    Created atomically (instance.read_or_create_secret): processes starting at once on one empty
    instance/ all get the same key. Every process must sign with the key the phones subscribed with;
    a push signed with another is refused by the push service (403).
    """
    key = config.get("VAPID_PRIVATE_KEY") or read_or_create_secret(instance_path, "vapid_private.pem",
                                                                   _new_private_pem)
    refusal = "VAPID_PRIVATE_KEY is neither a P-256 private key in PEM nor 32 bytes in base64url"
    key = key.strip()
    # As web-push tools print it: the private number, 32 bytes, 43 base64url characters. py_vapid would
    # make a key of any text it is given, so the form is checked here.
    if not key.startswith("-----BEGIN") and not RAW_PRIVATE_KEY.fullmatch(key):
        raise InvalidVapidKey(refusal)
    try:
        vapid = Vapid.from_pem(key.encode()) if key.startswith("-----BEGIN") else Vapid.from_raw(key.encode())
    except Exception as exc:  # cryptography raises several kinds for a key it cannot read
        raise InvalidVapidKey(f"{refusal} ({type(exc).__name__})") from None
    # Web Push signs with ES256 only: another curve, or RSA, would be read, then refused by every browser.
    if not (isinstance(vapid.private_key, ec.EllipticCurvePrivateKey)
            and isinstance(vapid.private_key.curve, ec.SECP256R1)):
        raise InvalidVapidKey(refusal)
    return vapid


def application_server_key(vapid):
    """The public key as the browser's `applicationServerKey`: base64url, uncompressed point."""
    raw = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def default_subject(public_url):
    """Without VAPID_SUBJECT: the site itself if it is https, else a mailto that push services accept."""
    if public_url.startswith("https://"):
        return public_url
    return "mailto:paylab-learner@example.com"

"""The bank's VAPID identity for Web Push: a P-256 key generated into instance/ on the first run.

Push services only accept messages signed with the key a subscription was made
for, so the key must survive restarts; the browser gets the public half as
`applicationServerKey`. The `sub` claim tells push services whom to contact.
"""
import base64
import logging
from pathlib import Path
from urllib.parse import urlparse

from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid

log = logging.getLogger(__name__)
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


def load_vapid(instance_path):
    """The bank's Vapid key, created (mode 0600) on first use."""
    path = Path(instance_path) / "vapid_private.pem"
    if not path.exists():
        vapid = Vapid()
        vapid.generate_keys()
        vapid.save_key(str(path))
        path.chmod(0o600)
    return Vapid.from_file(str(path))


def application_server_key(vapid):
    """The public key as the browser's `applicationServerKey`: base64url, uncompressed point."""
    raw = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def default_subject(public_url):
    """Without VAPID_SUBJECT: the site itself if it is https, else a mailto that push services accept."""
    if public_url.startswith("https://"):
        return public_url
    return "mailto:paylab-learner@example.com"

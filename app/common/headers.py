"""Security headers on every response: what a page may load, who may frame it, what the browser may send.

One after-request hook rather than a library: the whole policy fits on a screen, and reading it is part
of the lesson. Pages get a Content-Security-Policy without inline script (their code is in static ES
modules; server values travel in data- attributes and JSON data blocks). JSON answers are never rendered
as a document, so their policy allows nothing at all.
"""
import ipaddress
import re
from urllib.parse import urlsplit

from flask import current_app, g, request

# A host[:port] we are willing to write into a header (Host is client-supplied).
SAFE_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")

API_POLICY = "default-src 'none'; frame-ancestors 'none'"

# Deny every powerful feature PayLab does not use; WebAuthn (the fingerprint or face) only for our own pages.
PERMISSIONS_POLICY = ", ".join([
    "accelerometer=()", "autoplay=()", "camera=()", "display-capture=()", "encrypted-media=()",
    "geolocation=()", "gyroscope=()", "hid=()", "magnetometer=()", "microphone=()", "midi=()",
    "payment=()", "picture-in-picture=()", "screen-wake-lock=()", "serial=()", "usb=()",
    "xr-spatial-tracking=()",
    "publickey-credentials-create=(self)", "publickey-credentials-get=(self)",
])

HSTS = "max-age=31536000"  # a year; no includeSubDomains or preload: the learner's host is not ours to bind

def init_security_headers(app):
    """Register the hook that adds the headers to every response (pages, JSON, static files, errors)."""
    app.after_request(add_security_headers)


def add_security_headers(response):
    headers = response.headers
    if response.mimetype == "application/json":
        headers["Content-Security-Policy"] = API_POLICY
    else:
        headers["Content-Security-Policy"] = page_policy()
    headers["X-Frame-Options"] = "DENY"  # for browsers older than frame-ancestors: no clickjacked approval
    headers["X-Content-Type-Options"] = "nosniff"
    # Stricter than strict-origin-when-cross-origin: the servers share one origin and tell no one else
    # where a visitor came from (Flask-WTF's HTTPS referrer check is same-origin, so it still works).
    headers["Referrer-Policy"] = "same-origin"
    headers["Permissions-Policy"] = PERMISSIONS_POLICY
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if hsts_applies(current_app.config["PUBLIC_URL"]):
        headers["Strict-Transport-Security"] = HSTS
    return response


def page_policy():
    """The CSP of an HTML page (and of the service worker script, whose own headers govern it)."""
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],  # no inline script and no eval: injected markup cannot run code
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "connect-src": ["'self'", *websocket_origins()],  # fetch, Socket.IO's polling and its WebSocket
        "worker-src": ["'self'"],
        "manifest-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'", *form_targets()],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(dict.fromkeys(sources))}" for name, sources in directives.items())


def websocket_origins():
    """This origin as a WebSocket origin: CSP3 lets 'self' cover it, older Safari needs it spelled out."""
    host = request.host
    if not SAFE_HOST.match(host):
        return []
    secure = request.is_secure or current_app.config["PUBLIC_URL"].startswith("https:")
    return [f"{'wss' if secure else 'ws'}://{host}"]


def allow_form_action(url):
    """A view lets the forms of the page it serves lead to `url`'s origin too.

    Chrome checks form-action against every redirect after a form post, so a form that
    ends in a redirect elsewhere (the IdP's, to the client's redirect_uri) needs it.
    """
    origin = origin_of(url)
    if origin:
        g.setdefault("paylab_form_targets", []).append(origin)


def form_targets():
    """Where a form post may lead besides this origin: PUBLIC_URL (behind a tunnel it is another origin)
    and whatever the view allowed (`allow_form_action`)."""
    targets = [origin_of(current_app.config["PUBLIC_URL"]), *g.get("paylab_form_targets", [])]
    return [target for target in targets if target]


def origin_of(url):
    """scheme://host[:port] of an http(s) URL, or None when it is anything else (it goes into a header)."""
    try:
        parts = urlsplit(url or "")
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not SAFE_HOST.match(parts.netloc):
        return None
    return f"{parts.scheme}://{parts.netloc}"


def hsts_applies(public_url):
    """HSTS only when PayLab is published over https, and never for localhost or an IP address:
    browsers would then refuse plain http on that host, every port included (`make run` is plain http)."""
    parts = urlsplit(public_url)
    host = parts.hostname or ""
    if parts.scheme != "https" or host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False

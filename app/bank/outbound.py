"""Calls the bank makes to addresses that outsiders name: which are allowed, and how a failure is told.

Two doors let someone outside choose an address that the bank then calls: a
device's push endpoint (any customer sets one) and a webhook URL (a merchant's).
Left open, they make the bank a proxy into its own network (server-side request
forgery), and showing what came back makes it a reader too. So push endpoints
must be `https` URLs of the real push services (an allow-list,
`PUSH_SERVICE_HOSTS`), webhook URLs are registered by the bank's operator (see
`webhooks.register_webhook_endpoint`), and an answer's body is never kept or
shown: a status code and a classified reason are all anybody needs.
"""
import re
import socket
import ssl
from urllib.parse import urlsplit, urlunsplit

import requests

# The push services that browsers hand out endpoints for: Chrome and Edge (FCM), Firefox (Mozilla
# autopush), legacy Edge (WNS) and Safari (Apple). "*." matches any subdomain, never the bare name.
DEFAULT_PUSH_SERVICE_HOSTS = ("fcm.googleapis.com,updates.push.services.mozilla.com,*.notify.windows.com,"
                              "web.push.apple.com,*.push.apple.com")
# Printable ASCII without spaces, quotes or backslashes: nothing that two URL parsers read differently.
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]+")


class OutboundUrlRefused(ValueError):
    """A URL the bank will not call."""


def host_rules(setting):
    """Parse `PUSH_SERVICE_HOSTS`: comma-separated host names, `*.suffix`, or `scheme://host`.

    A bare name allows `https` on the default port only. An entry with a scheme
    (the tests' `http://127.0.0.1`) allows that scheme on any port of that host.
    """
    rules = []
    for entry in (setting or "").split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        scheme, _, host = entry.rpartition("://")
        rules.append((scheme or "https", host.rstrip("/"), bool(scheme)))
    return rules


def _host_matches(host, pattern):
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


DEFAULT_PORTS = {"https": 443, "http": 80}


def check_push_endpoint(url, setting=DEFAULT_PUSH_SERVICE_HOSTS):
    """The endpoint in one canonical spelling, if the bank may call it; raise `OutboundUrlRefused` if not.

    One spelling per endpoint (lower-case host, no default port, no fragment), so that a
    second device cannot register another customer's subscription written differently
    (`…#x`, `…:443`) and receive what the bank sends it.
    """
    if not isinstance(url, str) or not 0 < len(url) <= 1000 or not _URL_CHARACTERS.fullmatch(url):
        raise OutboundUrlRefused("The push endpoint is not a URL.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise OutboundUrlRefused("The push endpoint is not a URL.") from None
    host = (parts.hostname or "").lower()
    if not host or parts.username is not None or parts.password is not None:
        raise OutboundUrlRefused("The push endpoint must name a push service, without credentials.")
    if parts.fragment or "#" in url:
        raise OutboundUrlRefused("A push endpoint has no #fragment.")
    for scheme, pattern, any_port in host_rules(setting):
        if parts.scheme == scheme and _host_matches(host, pattern) and (any_port or port in (None, 443)):
            netloc = host if port in (None, DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
            return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    raise OutboundUrlRefused(f"{host} is not a push service this bank sends to (an https push service URL "
                             "from the browser's PushSubscription is needed).")


def push_endpoint_allowed(url, setting=DEFAULT_PUSH_SERVICE_HOSTS):
    try:
        check_push_endpoint(url, setting)
    except OutboundUrlRefused:
        return False
    return True


def check_webhook_url(url):
    """Return `url` if it can be registered as a webhook endpoint; raise `OutboundUrlRefused` if not.

    Only the bank's operator registers endpoints (they may be on a private
    network, as the demo shop is); this checks the form, not the destination.
    """
    if not isinstance(url, str) or not 0 < len(url) <= 500:
        raise OutboundUrlRefused("A webhook URL is an absolute http(s) URL of at most 500 characters.")
    if not _URL_CHARACTERS.fullmatch(url):
        raise OutboundUrlRefused("A webhook URL must be plain ASCII, without spaces or quotes.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        raise OutboundUrlRefused("A webhook URL is an absolute http(s) URL.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundUrlRefused("A webhook URL is an absolute http(s) URL.")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise OutboundUrlRefused("A webhook URL carries no credentials and no #fragment.")
    return url


def describe_status(status_code):
    """What an HTTP answer is recorded as: its status code, never its body."""
    return f"HTTP {status_code}"


def describe_failure(exc):
    """A short, fixed reason for a call that got no answer: never the remote's words."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect timed out"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.SSLError) or _caused_by(exc, ssl.SSLError):
        return "TLS error"
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return "redirect refused"
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema)):
        return "invalid URL"
    if _caused_by(exc, ConnectionRefusedError):
        return "connection refused"
    if _caused_by(exc, socket.gaierror):
        return "name not resolved"
    if _caused_by(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "connection failed"
    return "request failed"


def _caused_by(exc, kind):
    """Does `kind` appear anywhere in the chain (requests wraps urllib3, which wraps the socket error)?"""
    seen, pending = set(), [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return True
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        pending.extend(link for link in linked if isinstance(link, BaseException))
    return False

"""The HTTP client for every server-to-server call.

One place gives every call a timeout (a hanging peer must never hang us), a
reused connection pool, a trace of what was sent and received, and the
split-horizon rewrite: a URL on our own PUBLIC_URL is reached at INTERNAL_URL,
as a server behind a tunnel or proxy must do. Authlib's OAuth client uses the
same machinery through `oauth_session_class`.
"""
import time

import requests
from authlib.integrations.requests_client import OAuth2Session

from .clock import utcnow
from .tracing import current_trace, record_message, traceparent_header


class HttpSettings:
    """Timeouts, the public→internal URL map, and for traces who calls whom.

    `sender` and `receiver` are the walkthrough's lanes ("shop", "bank", "idp", "push"…):
    each client says whom it calls. `step` (a tracing.Step) is for calls that leave
    PayLab, such as pushes; a call to one of PayLab's own views takes the step that
    view declares. `judge(response)`, if given, says whether an answer refused what the caller
    tried ({"reason", "factor"}, or None): only the caller knows that a 200 can be a refusal.
    """

    def __init__(self, connect_timeout=3.0, read_timeout=10.0, sender="server", url_map=None, receiver=None,
                 step=None, own_origins=(), judge=None):
        self.timeout = (connect_timeout, read_timeout)
        self.sender, self.receiver, self.step, self.judge = sender, receiver, step, judge
        self.url_map = dict(url_map or {})
        # Only this instance's servers hear the journey's trace id: a push service or an outside
        # provider is a third party, and the bank's internal ids are none of its business.
        self.own_origins = tuple(origin.rstrip("/") + "/" for origin in own_origins if origin)

    @classmethod
    def from_config(cls, config, sender, receiver=None, step=None, judge=None):
        url_map = {}
        if config.get("PUBLIC_URL") and config.get("INTERNAL_URL") and config["PUBLIC_URL"] != config["INTERNAL_URL"]:
            url_map[config["PUBLIC_URL"] + "/"] = config["INTERNAL_URL"] + "/"
        return cls(config["HTTP_CONNECT_TIMEOUT"], config["HTTP_READ_TIMEOUT"], sender, url_map, receiver, step,
                   own_origins=(config.get("PUBLIC_URL"), config.get("INTERNAL_URL")), judge=judge)

    def is_own(self, url):
        """Whether `url` is one of this instance's servers (after the public→internal rewrite)."""
        return url.startswith(self.own_origins)

    def route(self, url):
        for public, internal in self.url_map.items():
            if url.startswith(public):
                return internal + url[len(public):]
        return url


def traced_request(send, settings, method, url, **kwargs):
    """Send through `send` (a requests.Session.request) with a timeout, the URL map and a trace."""
    url = settings.route(url)
    kwargs.setdefault("timeout", settings.timeout)
    trace_id, _ = current_trace()
    if trace_id and settings.is_own(url):  # the next server of ours continues this journey
        kwargs["headers"] = {**(kwargs.get("headers") or {}), "traceparent": traceparent_header(trace_id)}
    started, started_at = time.monotonic(), utcnow()
    response = error = None
    try:
        response = send(method, url, **kwargs)
        return response
    except requests.RequestException as exc:
        error = exc
        raise
    finally:
        record_message(
            "http", sender=settings.sender, receiver=settings.receiver, step=settings.step, method=method, url=url,
            response_headers=dict(response.headers) if response is not None else {},
            # What was really sent, with what the library added (the Authorization of `auth=`); redacted later.
            request_headers=dict(getattr(getattr(response, "request", None), "headers", None)
                                 or kwargs.get("headers") or {}),
            request_body=kwargs.get("data") or kwargs.get("json"),
            status=response.status_code if response is not None else None,
            response_body=response.text if response is not None else None,
            error=str(error) if error else None,
            refusal=settings.judge(response) if settings.judge and response is not None else None,
            duration_ms=round((time.monotonic() - started) * 1000, 1), started_at=started_at,
        )


def traced_session(settings):
    """A plain `requests.Session` whose every request is traced and timed out (for libraries that
    want a session, such as pywebpush)."""
    session = requests.Session()
    session.headers["User-Agent"] = f"PayLab-{settings.sender}/1.0"
    send = session.request
    session.request = lambda method, url, **kwargs: traced_request(send, settings, method, url, **kwargs)
    return session


class HttpClient:
    """A `requests.Session` with default timeouts, the URL map and message tracing."""

    def __init__(self, settings):
        self.settings = settings
        self.session = traced_session(settings)

    @classmethod
    def from_config(cls, config, sender, receiver=None):
        return cls(HttpSettings.from_config(config, sender, receiver))

    def request(self, method, url, **kwargs):
        """Send a request; raises `requests.RequestException` on network failure or timeout."""
        return self.session.request(method, url, **kwargs)

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url, **kwargs):
        return self.request("POST", url, **kwargs)


def oauth_session_class(settings):
    """An Authlib OAuth2Session whose every request (discovery, token, userinfo, JWKS) goes the same way."""

    class TracedOAuth2Session(OAuth2Session):
        def request(self, method, url, withhold_token=False, auth=None, **kwargs):
            def send(method, url, **kw):
                return OAuth2Session.request(self, method, url, withhold_token=withhold_token, auth=auth, **kw)
            return traced_request(send, settings, method, url, **kwargs)

    return TracedOAuth2Session

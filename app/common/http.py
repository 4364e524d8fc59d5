"""The HTTP client for every server-to-server call.

One place gives every call a timeout (a hanging peer must never hang us), a
reused connection pool, and a trace of what was sent and received.
"""
import time

import requests

from .tracing import record_message


class HttpClient:
    """A `requests.Session` with default timeouts and message tracing."""

    def __init__(self, connect_timeout=3.0, read_timeout=10.0, sender="server"):
        self.timeout = (connect_timeout, read_timeout)
        self.sender = sender
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"PayLab-{sender}/1.0"

    @classmethod
    def from_config(cls, config, sender):
        return cls(config["HTTP_CONNECT_TIMEOUT"], config["HTTP_READ_TIMEOUT"], sender)

    def request(self, method, url, *, timeout=None, **kwargs):
        """Send a request; raises `requests.RequestException` on network failure or timeout."""
        started = time.monotonic()
        response = error = None
        try:
            response = self.session.request(method, url, timeout=timeout or self.timeout, **kwargs)
            return response
        except requests.RequestException as exc:
            error = exc
            raise
        finally:
            record_message(
                "http", sender=self.sender, method=method, url=url,
                request_headers=dict(kwargs.get("headers") or {}),
                request_body=kwargs.get("data") or kwargs.get("json"),
                status=response.status_code if response is not None else None,
                response_body=response.text if response is not None else None,
                error=str(error) if error else None,
                duration_ms=round((time.monotonic() - started) * 1000, 1),
            )

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url, **kwargs):
        return self.request("POST", url, **kwargs)

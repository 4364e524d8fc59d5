"""The shop's side of the bank's merchant API.

It caches the bank's access token and refreshes it shortly before it expires
(or at once, if the bank says 401), so most calls cost one round trip.
"""
import threading
import time
from datetime import datetime, timezone

import requests

from ..common import tracing


class BankUnavailable(Exception):
    """The bank could not be reached or failed (timeout, refused, 5xx): nothing is known to have happened."""


class BankRejected(Exception):
    """The bank answered with an error: `status`, `code` and its human `message`."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _iso(unix_seconds):
    return datetime.fromtimestamp(unix_seconds, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class BankClient:
    REFRESH_MARGIN_SECONDS = 30

    def __init__(self, http, base_url, client_id, client_secret):
        self.http, self.base_url = http, base_url.rstrip("/")
        self.client_id, self.client_secret = client_id, client_secret
        self._token = None
        self._token_expires_at = 0.0
        self._token_story = None  # where and when the cached token was issued, for the walkthrough
        self._lock = threading.Lock()

    def _access_token(self, force_refresh=False):
        with self._lock:
            if force_refresh or not self._token or time.time() > self._token_expires_at - self.REFRESH_MARGIN_SECONDS:
                if not self.client_id or not self.client_secret:
                    raise BankUnavailable("The shop has no bank credentials yet: run `flask seed`.")
                response = self._send("POST", "/oauth/token", auth=(self.client_id, self.client_secret),
                                      data={"grant_type": "client_credentials", "scope": "payments"})
                body = self._json_or_raise(response)
                self._token = body["access_token"]
                self._token_expires_at = time.time() + int(body.get("expires_in", 300))
                self._token_story = {"issued_in_journey": tracing.current_trace()[0], "issued_at": _iso(time.time()),
                                     "expires_at": _iso(self._token_expires_at)}
            return self._token

    def _send(self, method, path, **kwargs):
        try:
            response = self.http.request(method, self.base_url + path, **kwargs)
        except requests.RequestException as exc:
            raise BankUnavailable(f"The bank did not answer ({type(exc).__name__}).") from exc
        if response.status_code >= 500:
            raise BankUnavailable(f"The bank failed with HTTP {response.status_code}.")
        return response

    @staticmethod
    def _json_or_raise(response):
        try:
            body = response.json()
        except ValueError:
            raise BankUnavailable(f"The bank sent a non-JSON answer (HTTP {response.status_code}).") from None
        if response.status_code >= 400:
            raise BankRejected(response.status_code, body.get("error", "error"),
                               body.get("message") or body.get("error_description") or "The bank refused.")
        return body

    def _call(self, method, path, **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        for attempt in range(2):
            headers["Authorization"] = f"Bearer {self._access_token(force_refresh=attempt > 0)}"
            with tracing.notes(bearer_token=self._token_story):  # the token is cached: say where it came from
                response = self._send(method, path, headers=headers, **kwargs)
            if response.status_code != 401:
                break
        return self._json_or_raise(response)

    def create_payment_request(self, body, idempotency_key):
        return self._call("POST", "/api/v1/payment-requests", json=body, headers={"Idempotency-Key": idempotency_key})

    def get_payment_request(self, request_id):
        return self._call("GET", f"/api/v1/payment-requests/{request_id}")

    def cancel_payment_request(self, request_id):
        return self._call("POST", f"/api/v1/payment-requests/{request_id}/cancel")

"""The shop's BankClient against a fake HTTP layer: token caching, refresh, retry on 401, errors."""
import copy
import time

import pytest
import requests

from app.shop.bank_client import BankClient, BankRejected, BankUnavailable

BASE = "http://bank.test/bank"
TOKEN_URL = BASE + "/oauth/token"
REQUESTS_URL = BASE + "/api/v1/payment-requests"


class FakeResponse:
    def __init__(self, status_code, body=None, text=None):
        self.status_code, self._body = status_code, body
        self.text = text if text is not None else ("" if body is None else str(body))

    def json(self):
        if self._body is None:
            raise ValueError("not JSON")
        return self._body


class FakeBank:
    """Issues tokens tok-1, tok-2, … and answers the API with whatever `api` returns."""

    def __init__(self, api=None, expires_in=3600):
        self.calls = []
        self.tokens_issued = 0
        self.valid_tokens = set()
        self.expires_in = expires_in
        self.api = api or (lambda method, url, kwargs: FakeResponse(200, {"id": "pr_1", "status": "pending"}))

    def request(self, method, url, **kwargs):
        kwargs = copy.deepcopy(kwargs)  # record what was sent then, not what the caller mutates later
        self.calls.append((method, url, kwargs))
        if url == TOKEN_URL:
            self.tokens_issued += 1
            token = f"tok-{self.tokens_issued}"
            self.valid_tokens.add(token)
            return FakeResponse(200, {"access_token": token, "token_type": "Bearer",
                                      "expires_in": self.expires_in, "scope": "payments"})
        return self.api(method, url, kwargs)

    def api_calls(self):
        return [(m, u, k) for m, u, k in self.calls if u != TOKEN_URL]

    def token_calls(self):
        return [(m, u, k) for m, u, k in self.calls if u == TOKEN_URL]


def _client(http, client_id="mch_1", secret="s3cret"):
    return BankClient(http, BASE + "/", client_id, secret)


def test_token_is_fetched_once_and_reused():
    bank = FakeBank()
    client = _client(bank)
    client.create_payment_request({"amount": 1}, "key-1")
    client.get_payment_request("pr_1")
    client.cancel_payment_request("pr_1")

    [(method, _, kwargs)] = bank.token_calls()
    assert method == "POST"
    assert kwargs["auth"] == ("mch_1", "s3cret")
    assert kwargs["data"] == {"grant_type": "client_credentials", "scope": "payments"}
    api = bank.api_calls()
    assert [(m, u) for m, u, _ in api] == [("POST", REQUESTS_URL), ("GET", REQUESTS_URL + "/pr_1"),
                                          ("POST", REQUESTS_URL + "/pr_1/cancel")]
    assert all(k["headers"]["Authorization"] == "Bearer tok-1" for _, _, k in api)
    assert api[0][2]["headers"]["Idempotency-Key"] == "key-1"
    assert api[0][2]["json"] == {"amount": 1}


def test_token_is_refreshed_when_near_expiry():
    bank = FakeBank()
    client = _client(bank)
    client.get_payment_request("pr_1")
    assert client._token_expires_at == pytest.approx(time.time() + 3600, abs=5)

    client._token_expires_at = time.time() + BankClient.REFRESH_MARGIN_SECONDS + 60  # comfortably valid
    client.get_payment_request("pr_1")
    assert bank.tokens_issued == 1

    client._token_expires_at = time.time() + BankClient.REFRESH_MARGIN_SECONDS - 1  # inside the margin
    client.get_payment_request("pr_1")
    assert bank.tokens_issued == 2
    assert bank.api_calls()[-1][2]["headers"]["Authorization"] == "Bearer tok-2"

    client._token_expires_at = time.time() - 10  # already expired
    client.get_payment_request("pr_1")
    assert bank.tokens_issued == 3
    assert bank.api_calls()[-1][2]["headers"]["Authorization"] == "Bearer tok-3"


def test_a_401_refreshes_the_token_once_and_retries():
    def api(method, url, kwargs):
        token = kwargs["headers"]["Authorization"].removeprefix("Bearer ")
        if token == "tok-1":  # the bank forgot the first token (restart, revocation)
            return FakeResponse(401, {"error": "invalid_token", "message": "expired"})
        return FakeResponse(201, {"id": "pr_9", "status": "pending"})

    bank = FakeBank(api=api)
    client = _client(bank)
    assert client.create_payment_request({"amount": 5}, "key-9") == {"id": "pr_9", "status": "pending"}
    assert bank.tokens_issued == 2
    api_calls = bank.api_calls()
    assert [k["headers"]["Authorization"] for _, _, k in api_calls] == ["Bearer tok-1", "Bearer tok-2"]
    assert all(k["headers"]["Idempotency-Key"] == "key-9" for _, _, k in api_calls)
    # the new token is kept for later calls
    client.get_payment_request("pr_9")
    assert bank.tokens_issued == 2


def test_a_persistent_401_is_retried_only_once_then_rejected():
    bank = FakeBank(api=lambda m, u, k: FakeResponse(401, {"error": "invalid_token", "message": "no good"}))
    client = _client(bank)
    with pytest.raises(BankRejected) as caught:
        client.get_payment_request("pr_1")
    assert (caught.value.status, caught.value.code, caught.value.message) == (401, "invalid_token", "no good")
    assert len(bank.api_calls()) == 2
    assert bank.tokens_issued == 2


@pytest.mark.parametrize("error", [requests.ConnectionError("refused"), requests.Timeout("slow"),
                                   requests.exceptions.ChunkedEncodingError("cut")])
def test_network_errors_are_bank_unavailable(error):
    class Down:
        def request(self, method, url, **kwargs):
            raise error

    with pytest.raises(BankUnavailable):
        _client(Down()).create_payment_request({"amount": 1}, "k")


def test_network_error_on_the_api_call_after_a_good_token():
    def api(method, url, kwargs):
        raise requests.ConnectionError("reset")

    bank = FakeBank(api=api)
    with pytest.raises(BankUnavailable):
        _client(bank).get_payment_request("pr_1")
    assert bank.tokens_issued == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_bank_unavailable(status):
    bank = FakeBank(api=lambda m, u, k: FakeResponse(status, {"error": "server_error", "message": "boom"}))
    with pytest.raises(BankUnavailable, match=str(status)):
        _client(bank).create_payment_request({"amount": 1}, "k")
    assert len(bank.api_calls()) == 1  # a 5xx is not retried blindly


def test_server_error_from_the_token_endpoint_is_bank_unavailable():
    class TokenDown(FakeBank):
        def request(self, method, url, **kwargs):
            if url == TOKEN_URL:
                self.calls.append((method, url, kwargs))
                return FakeResponse(503, text="<html>down</html>")
            return super().request(method, url, **kwargs)

    bank = TokenDown()
    with pytest.raises(BankUnavailable):
        _client(bank).get_payment_request("pr_1")
    assert bank.api_calls() == []


def test_a_non_json_answer_is_bank_unavailable():
    bank = FakeBank(api=lambda m, u, k: FakeResponse(200, None, text="<html>proxy page</html>"))
    with pytest.raises(BankUnavailable):
        _client(bank).get_payment_request("pr_1")


@pytest.mark.parametrize("status, body, code, message", [
    (422, {"error": "invalid_field", "message": "amount must be a whole number"}, "invalid_field",
     "amount must be a whole number"),
    (409, {"error": "conflict", "message": "This payment request is already approved."}, "conflict",
     "This payment request is already approved."),
    (404, {"error": "not_found", "message": "No payment request with this id."}, "not_found",
     "No payment request with this id."),
    (403, {"error": "insufficient_scope", "message": "This token lacks the 'payments' scope."},
     "insufficient_scope", "This token lacks the 'payments' scope."),
    (400, {"error": "invalid_json", "error_description": "bad body"}, "invalid_json", "bad body"),
    (429, {}, "error", "The bank refused."),
])
def test_client_errors_are_bank_rejected(status, body, code, message):
    bank = FakeBank(api=lambda m, u, k: FakeResponse(status, body))
    with pytest.raises(BankRejected) as caught:
        _client(bank).create_payment_request({"amount": 1}, "k")
    assert (caught.value.status, caught.value.code, caught.value.message) == (status, code, message)
    assert len(bank.api_calls()) == 1


def test_wrong_credentials_at_the_token_endpoint_are_rejected():
    class WrongSecret(FakeBank):
        def request(self, method, url, **kwargs):
            self.calls.append((method, url, kwargs))
            return FakeResponse(401, {"error": "invalid_client", "message": "invalid client"})

    bank = WrongSecret()
    with pytest.raises(BankRejected) as caught:
        _client(bank).get_payment_request("pr_1")
    assert (caught.value.status, caught.value.code) == (401, "invalid_client")
    assert bank.api_calls() == []


def test_missing_credentials_are_unavailable_without_calling_the_bank():
    bank = FakeBank()
    with pytest.raises(BankUnavailable):
        _client(bank, client_id=None, secret=None).get_payment_request("pr_1")
    assert bank.calls == []

"""The bank's merchant API over real HTTP, held to the contract in DESIGN.md §4."""
import re
import threading
import uuid

import pytest
import requests
from sqlalchemy import func, select

from app.bank import merchants as bank_merchants
from app.bank.models import IdempotencyRecord, PaymentRequest
from app.extensions import db

from ..support import in_app_db

TIMEOUT = 15
CONTRACT_FIELDS = {"id", "status", "amount", "currency", "merchant_reference", "description", "binding_code",
                   "expires_at", "created_at"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _token_response(live, client_id=None, secret=None, scope="payments"):
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    return requests.post(live.url + "/bank/oauth/token", timeout=TIMEOUT, data=data, auth=(
        client_id or live.app.config["BANK_CLIENT_ID"], secret or live.app.config["BANK_CLIENT_SECRET"]))


@pytest.fixture(scope="module")
def token(live):
    response = _token_response(live)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def _headers(token, key=None, **extra):
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    headers.update(extra)
    return headers


def _create(live, token, body, key=None):
    return requests.post(live.url + "/bank/api/v1/payment-requests", json=body, timeout=TIMEOUT,
                         headers=_headers(token, key or uuid.uuid4().hex))


def _body(card, **changes):
    body = {"amount": 11999, "currency": "ZAR", "card_number": card,
            "merchant_reference": f"order-{uuid.uuid4().hex[:8]}", "description": "Headlamp × 1"}
    body.update(changes)
    return body


@pytest.fixture(scope="module")
def card(live):
    from ..conftest import new_customer
    return new_customer(live.app)[3]


def _assert_json_error(response, status, code=None):
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"]
    assert isinstance(body.get("message"), str) and body["message"]
    if code:
        assert body["error"] == code
    assert "Traceback" not in response.text
    return body


# --- the token endpoint ---------------------------------------------------------------

def test_token_endpoint_issues_a_bearer_token(live):
    response = _token_response(live)
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body["access_token"], str) and len(body["access_token"]) >= 20
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == live.app.config["BANK_TOKEN_TTL_SECONDS"]
    assert body["scope"] == "payments"
    assert response.headers.get("Cache-Control") == "no-store"


def test_wrong_secret_is_401_json(live):
    body = _assert_json_error(_token_response(live, secret="not-the-secret"), 401)
    assert body["error"] == "invalid_client"


def test_unknown_client_is_401_json(live):
    _assert_json_error(_token_response(live, client_id="mch_nobody", secret="x"), 401)


def test_token_without_payments_scope_is_403_at_the_api(live, card):
    response = _token_response(live, scope=None)
    assert response.status_code == 200
    unscoped = response.json()
    assert unscoped.get("scope", "") == ""
    api = _create(live, unscoped["access_token"], _body(card))
    _assert_json_error(api, 403, "insufficient_scope")


def test_requesting_a_scope_the_merchant_lacks_gives_no_payments_access(live, card):
    response = _token_response(live, scope="admin")
    assert response.status_code == 200  # granted, but with none of the requested scope
    assert "payments" not in response.json().get("scope", "")
    _assert_json_error(_create(live, response.json()["access_token"], _body(card)), 403, "insufficient_scope")


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-real-token", "Bearer ", "Basic abc", "garbage"])
def test_missing_or_invalid_token_is_401_json(live, card, authorization):
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = requests.post(live.url + "/bank/api/v1/payment-requests", json=_body(card), headers=headers,
                             timeout=TIMEOUT)
    _assert_json_error(response, 401)
    get = requests.get(live.url + "/bank/api/v1/payment-requests/pr_x", headers=headers, timeout=TIMEOUT)
    _assert_json_error(get, 401)


# --- creating a payment request ---------------------------------------------------------

def test_create_returns_201_with_the_contract_fields(live, token, card):
    body = _body(card, amount=4321, description="Rooibos tea")
    response = _create(live, token, body)
    assert response.status_code == 201, response.text
    data = response.json()
    assert CONTRACT_FIELDS <= set(data)
    assert data["id"].startswith("pr_")
    assert data["status"] == "pending"
    assert (data["amount"], data["currency"]) == (4321, "ZAR")
    assert data["merchant_reference"] == body["merchant_reference"]
    assert data["description"] == "Rooibos tea"
    assert re.fullmatch(r"\d{4}", data["binding_code"])
    assert ISO_UTC.match(data["expires_at"]) and ISO_UTC.match(data["created_at"])
    assert data["expires_at"] > data["created_at"]
    assert card not in response.text  # the full card number never comes back
    assert response.headers["Location"].endswith(f"/bank/api/v1/payment-requests/{data['id']}")
    assert "Idempotent-Replayed" not in response.headers

    got = requests.get(f"{live.url}/bank/api/v1/payment-requests/{data['id']}", headers=_headers(token),
                       timeout=TIMEOUT)
    assert got.status_code == 200
    assert got.json() == data


def test_same_key_same_body_replays(live, token, card):
    key, body = uuid.uuid4().hex, _body(card)
    first = _create(live, token, body, key)
    second = _create(live, token, body, key)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    count = in_app_db(live, lambda: db.session.scalar(select(func.count(PaymentRequest.id)).where(
        PaymentRequest.merchant_reference == body["merchant_reference"])))
    assert count == 1


def test_same_key_different_body_is_409(live, token, card):
    key, body = uuid.uuid4().hex, _body(card)
    assert _create(live, token, body, key).status_code == 201
    _assert_json_error(_create(live, token, dict(body, amount=body["amount"] + 1), key), 409, "conflict")


def test_concurrent_requests_with_one_key_create_one_payment_request(live, token, card):
    key, body, n = uuid.uuid4().hex, _body(card), 8
    barrier = threading.Barrier(n)
    results = [None] * n

    def post(i):
        session = requests.Session()
        barrier.wait()
        try:
            response = session.post(live.url + "/bank/api/v1/payment-requests", json=body, timeout=30,
                                    headers=_headers(token, key))
            results[i] = (response.status_code, response.json().get("id"))
        except Exception as exc:  # noqa: BLE001 - report it as the result, not a thread crash
            results[i] = (repr(exc), None)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert [status for status, _ in results] == [201] * n, results
    ids = {pid for _, pid in results}
    assert len(ids) == 1 and None not in ids

    def rows():
        return (db.session.scalar(select(func.count(PaymentRequest.id)).where(
                    PaymentRequest.merchant_reference == body["merchant_reference"])),
                db.session.scalar(select(func.count(IdempotencyRecord.id)).where(IdempotencyRecord.key == key)))
    assert in_app_db(live, rows) == (1, 1)


def test_missing_idempotency_key_is_422(live, token, card):
    response = requests.post(live.url + "/bank/api/v1/payment-requests", json=_body(card),
                             headers=_headers(token), timeout=TIMEOUT)
    body = _assert_json_error(response, 422)
    assert "Idempotency-Key" in body["message"]
    _assert_json_error(_create(live, token, _body(card), key="k" * 256), 422)


def test_malformed_json_is_400(live, token):
    for data, content_type in ((b'{"amount": 1,', "application/json"), (b"not json", "application/json"),
                               (b'{"amount": 1}', "text/plain"), (b"", "application/json")):
        response = requests.post(live.url + "/bank/api/v1/payment-requests", data=data, timeout=TIMEOUT,
                                 headers=_headers(token, uuid.uuid4().hex, **{"Content-Type": content_type}))
        _assert_json_error(response, 400)


@pytest.mark.parametrize("amount", [-1, 0, 1.5, "100", True, None, 10**20])
def test_invalid_amount_is_422_naming_amount(live, token, card, amount):
    body = _assert_json_error(_create(live, token, _body(card, amount=amount)), 422, "invalid_field")
    assert "amount" in body["message"]


@pytest.mark.parametrize("changes, field", [
    ({"currency": "USD"}, "currency"), ({"card_number": "4111111111111112"}, "card_number"),
    ({"card_number": "4111111111111111"}, "card_number"), ({"merchant_reference": ""}, "merchant_reference"),
    ({"callback_url": "javascript:alert(1)"}, "callback_url"),
])
def test_other_invalid_fields_are_422_naming_the_field(live, token, card, changes, field):
    body = _assert_json_error(_create(live, token, _body(card, **changes)), 422, "invalid_field")
    assert field in body["message"]


# --- reading and cancelling ------------------------------------------------------------

def test_another_merchants_request_is_404(live, token, card):
    created = _create(live, token, _body(card)).json()

    def other_merchant():
        merchant, secret = bank_merchants.create_merchant("Nosy Shop", "http://nosy.example/hook")
        return merchant.client_id, secret
    client_id, secret = in_app_db(live, other_merchant)
    other_token = _token_response(live, client_id, secret).json()["access_token"]

    url = f"{live.url}/bank/api/v1/payment-requests/{created['id']}"
    _assert_json_error(requests.get(url, headers=_headers(other_token), timeout=TIMEOUT), 404, "not_found")
    _assert_json_error(requests.post(url + "/cancel", headers=_headers(other_token), timeout=TIMEOUT), 404)
    unknown = f"{live.url}/bank/api/v1/payment-requests/pr_does_not_exist"
    _assert_json_error(requests.get(unknown, headers=_headers(token), timeout=TIMEOUT), 404)
    # still pending for its owner
    assert requests.get(url, headers=_headers(token), timeout=TIMEOUT).json()["status"] == "pending"
    # the other merchant's keys do not collide with ours either
    key = uuid.uuid4().hex
    mine = _create(live, token, _body(card), key).json()
    theirs = _create(live, other_token, _body(card), key)
    assert theirs.status_code == 201 and theirs.json()["id"] != mine["id"]


def test_cancel_then_cancel_again(live, token, card):
    created = _create(live, token, _body(card)).json()
    url = f"{live.url}/bank/api/v1/payment-requests/{created['id']}/cancel"
    first = requests.post(url, headers=_headers(token), timeout=TIMEOUT)
    assert first.status_code == 200
    assert first.json()["status"] == "cancelled" and first.json()["id"] == created["id"]
    assert "decided_at" in first.json()
    _assert_json_error(requests.post(url, headers=_headers(token), timeout=TIMEOUT), 409, "conflict")
    got = requests.get(url.removesuffix("/cancel"), headers=_headers(token), timeout=TIMEOUT)
    assert got.json()["status"] == "cancelled"


def test_openapi_document(live):
    response = requests.get(live.url + "/bank/api/openapi.json", timeout=TIMEOUT)
    assert response.status_code == 200
    doc = response.json()
    assert re.fullmatch(r"3\.\d+\.\d+", doc["openapi"])
    assert doc["servers"][0]["url"] == live.url + "/bank"
    assert {path: set(ops) for path, ops in doc["paths"].items()} == {
        "/oauth/token": {"post"},
        "/api/v1/payment-requests": {"post"},
        "/api/v1/payment-requests/{id}": {"get"},
        "/api/v1/payment-requests/{id}/cancel": {"post"},
    }


def test_overlong_callback_url_is_422(live, token, card):
    """The column holds 500 characters; a longer URL must be refused, not stored (or a 500 on PostgreSQL)."""
    long_url = "https://shop.example/" + "a" * 600
    body = _assert_json_error(_create(live, token, _body(card, callback_url=long_url)), 422, "invalid_field")
    assert "callback_url" in body["message"]


# --- garbage never gets a 500 ----------------------------------------------------------

def test_garbage_bodies_get_4xx_json(live, token, card):
    url = live.url + "/bank/api/v1/payment-requests"
    cases = [
        dict(json=[1, 2, 3]),
        dict(json="just a string"),
        dict(json=42),
        dict(json=None, data=b"null", headers_extra={"Content-Type": "application/json"}),
        dict(json={"amount": {"nested": True}, "currency": ["ZAR"], "card_number": {"x": 1},
                   "merchant_reference": None}),
        dict(json=_body(card, merchant_reference="x" * 100_000)),
        dict(json=_body(card, description="é" * 50_000)),
        dict(json=_body(card, card_number="4" * 10_000)),
        dict(json={"amount": 1e308, "currency": "ZAR"}),
        dict(data=b'{"amount": 100, "currency": "\xff\xfe"}', headers_extra={"Content-Type": "application/json"}),
        dict(data=b"\xff\xfe\xfd\x00\x01", headers_extra={"Content-Type": "application/json"}),
        dict(data=b'{"a":' * 5000, headers_extra={"Content-Type": "application/json"}),
        dict(data=b"[" * 100_000 + b"]" * 100_000, headers_extra={"Content-Type": "application/json"}),
    ]
    failures = []
    for case in cases:
        headers = _headers(token, uuid.uuid4().hex, **case.pop("headers_extra", {}))
        if "data" in case:
            case.pop("json", None)
        response = requests.post(url, headers=headers, timeout=TIMEOUT, **case)
        if not 400 <= response.status_code < 500 or "json" not in response.headers.get("Content-Type", ""):
            failures.append((str(case)[:80], response.status_code, response.text[:120]))
        else:
            _assert_json_error(response, response.status_code)
    assert failures == []


def test_garbage_headers_and_paths_get_4xx_json(live, token, card):
    url = live.url + "/bank/api/v1/payment-requests"
    responses = [
        requests.post(url, json=_body(card), timeout=TIMEOUT, headers=_headers(token, "k" * 10_000)),
        requests.post(url, json=_body(card), timeout=TIMEOUT,
                      headers={"Authorization": "Bearer " + "x" * 5000, "Idempotency-Key": "k"}),
        requests.get(url + "/" + "x" * 2000, headers=_headers(token), timeout=TIMEOUT),
        requests.get(url + "/%FF%FE", headers=_headers(token), timeout=TIMEOUT),
        requests.post(url + "/%00/cancel", headers=_headers(token), timeout=TIMEOUT),
        requests.delete(url, headers=_headers(token), timeout=TIMEOUT),
        requests.post(live.url + "/bank/oauth/token", data=b"\xff\xfe", timeout=TIMEOUT,
                      headers={"Content-Type": "application/x-www-form-urlencoded"}),
        requests.post(live.url + "/bank/oauth/token", data={"grant_type": "password"}, timeout=TIMEOUT,
                      auth=(live.app.config["BANK_CLIENT_ID"], live.app.config["BANK_CLIENT_SECRET"])),
        requests.post(live.url + "/bank/oauth/token", data={"grant_type": "client_credentials"}, timeout=TIMEOUT,
                      headers={"Authorization": "Basic %%%not-base64"}),
    ]
    failures = [(r.request.method, r.request.url[:80], r.status_code, r.text[:120]) for r in responses
                if not 400 <= r.status_code < 500 or "json" not in r.headers.get("Content-Type", "")]
    assert failures == []
    for response in responses:
        _assert_json_error(response, response.status_code)

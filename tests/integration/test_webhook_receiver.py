"""The shop's webhook receiver over real HTTP: signature first, stale and replayed events refused."""
import json
import time
import uuid

import pytest
import requests
from sqlalchemy import func, select

from app.common.security import sign_webhook
from app.extensions import db
from app.shop.models import Order, PaymentAttempt, ReceivedWebhook

from ..support import Shopper, in_app_db

TIMEOUT = 15


def _url(live):
    return live.url + "/shop/webhooks/bank"


def _event(payment_id=None, status="approved", event_id=None, **data):
    payment = {"id": payment_id or f"pr_{uuid.uuid4().hex[:16]}", "status": status, "amount": 11999,
               "currency": "ZAR", "merchant_reference": "order-0", "description": "", "binding_code": "1234",
               "expires_at": "2030-01-01T00:00:00Z", "created_at": "2030-01-01T00:00:00Z"}
    payment.update(data)
    return {"id": event_id or f"evt_{uuid.uuid4().hex[:16]}", "type": f"payment_request.{status}",
            "created": int(time.time()), "data": payment}


def _post(live, body, secret=None, timestamp=None, header=None):
    raw = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
    if header is None:
        header = sign_webhook(secret or live.app.config["BANK_WEBHOOK_SECRET"], raw, timestamp=timestamp)
    return requests.post(_url(live), data=raw, timeout=TIMEOUT,
                         headers={"Bank-Signature": header, "Content-Type": "application/json"})


def _seen(live, event_id):
    return in_app_db(live, lambda: db.session.scalar(select(func.count(ReceivedWebhook.id)).where(
        ReceivedWebhook.event_id == event_id)))


def _assert_json_400(response):
    assert response.status_code == 400, (response.status_code, response.text[:200])
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] and body["message"]
    return body


def _order_state(live, order_id):
    def read():
        order = db.session.get(Order, order_id)
        return order.status, order.payment.status, order.payment.bank_payment_request_id
    return in_app_db(live, read)


@pytest.fixture
def pending_order(live, customer_factory):
    """An order whose payment is pending at the bank: (order_id, bank payment request id)."""
    *_, card = customer_factory()
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("enamel-mug")
    order_id, _ = shopper.checkout(card)
    status, payment_status, payment_id = _order_state(live, order_id)
    assert (status, payment_status) == ("payment_pending", "pending")
    assert payment_id.startswith("pr_")
    return order_id, payment_id


def test_a_valid_event_for_an_unknown_payment_is_acknowledged(live):
    event = _event()
    response = _post(live, event)
    assert response.status_code == 200
    assert response.json()["received"] is True
    assert response.json().get("duplicate") is not True
    assert _seen(live, event["id"]) == 1


@pytest.mark.parametrize("forge", ["other_secret", "altered_body", "garbage_mac", "no_v1"])
def test_forged_signatures_are_400_json(live, forge):
    event = _event()
    raw = json.dumps(event).encode()
    if forge == "other_secret":
        header = sign_webhook("whsec_someone_else", raw)
    elif forge == "altered_body":
        header = sign_webhook(live.app.config["BANK_WEBHOOK_SECRET"], raw)
        raw = raw.replace(b'"approved"', b'"declined"', 1)
    elif forge == "garbage_mac":
        header = f"t={int(time.time())},v1={'0' * 64}"
    else:
        header = f"t={int(time.time())}"
    body = _assert_json_400(_post(live, raw, header=header))
    assert body["error"] == "invalid_signature"
    assert _seen(live, event["id"]) == 0


@pytest.mark.parametrize("header", [None, "", "nonsense", "t=notanumber,v1=abc"])
def test_missing_or_malformed_signature_header_is_400_json(live, header):
    event = _event()
    raw = json.dumps(event).encode()
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Bank-Signature"] = header
    response = requests.post(_url(live), data=raw, headers=headers, timeout=TIMEOUT)
    _assert_json_400(response)
    assert _seen(live, event["id"]) == 0


@pytest.mark.parametrize("offset", [-400, 400])
def test_stale_or_future_timestamp_is_400(live, offset):
    event = _event()
    body = _assert_json_400(_post(live, event, timestamp=time.time() + offset))
    assert body["error"] == "invalid_signature"
    assert _seen(live, event["id"]) == 0


def test_a_replayed_event_id_is_a_duplicate_and_changes_nothing(live, pending_order):
    order_id, payment_id = pending_order
    event = _event(event_id=f"evt_{uuid.uuid4().hex[:16]}")
    first = _post(live, event)
    assert first.status_code == 200 and first.json().get("duplicate") is not True

    # The same id again, now (re)signed and claiming the real payment was approved.
    replay = dict(event, data=dict(event["data"], id=payment_id, status="approved"))
    again = _post(live, replay)
    assert again.status_code == 200
    assert again.json() == {"received": True, "duplicate": True}
    assert _order_state(live, order_id) == ("payment_pending", "pending", payment_id)
    assert _seen(live, event["id"]) == 1

    # And the exact same bytes a third time: still a duplicate.
    assert _post(live, event).json()["duplicate"] is True


@pytest.mark.parametrize("raw", [
    b"this is not json", b"", b"\xff\xfe\x00garbage", b"[1, 2, 3]", b'"just a string"', b"null",
    b'{"id": "evt_x"}', b'{"id": "evt_y", "type": "payment_request.approved", "data": "not an object"}',
    b'{"id": 42, "type": "payment_request.approved", "data": {}}', b'{"type": "x", "data": {}}',
])
def test_signed_but_not_the_documented_shape_is_400_json(live, raw):
    body = _assert_json_400(_post(live, raw))
    assert body["error"] == "invalid_event"


def test_signed_deeply_nested_json_is_400_not_500(live):
    raw = b'{"id": "evt_deep", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    _assert_json_400(_post(live, raw))


@pytest.mark.parametrize("event", [
    {"id": "evt_bad_type_{}", "type": {"not": "a string"}, "created": 1, "data": {"id": "pr_x"}},
    {"id": "evt_bad_pid_{}", "type": "payment_request.approved", "created": 1,
     "data": {"id": ["pr_x"], "status": "approved"}},
    {"id": "evt_long_{}" + "x" * 200, "type": "payment_request.approved", "created": 1, "data": {"id": "pr_x"}},
])
def test_signed_events_with_odd_field_types_never_500(live, event):
    event = dict(event, id=event["id"].format(uuid.uuid4().hex[:8]))
    response = _post(live, event)
    assert response.status_code in (200, 400), (response.status_code, response.text[:200])
    assert response.headers["Content-Type"].startswith("application/json")


def test_a_signed_approval_for_another_payment_does_not_pay_the_order(live, pending_order):
    order_id, payment_id = pending_order
    # Signed correctly, and naming this very order, but for a payment request the order never made.
    forged = _event(payment_id="pr_" + uuid.uuid4().hex[:16], status="approved",
                    merchant_reference=f"order-{order_id}", amount=0)
    response = _post(live, forged)
    assert response.status_code == 200
    assert _order_state(live, order_id) == ("payment_pending", "pending", payment_id)
    attempts = in_app_db(live, lambda: db.session.scalar(select(func.count(PaymentAttempt.id)).where(
        PaymentAttempt.bank_payment_request_id == forged["data"]["id"])))
    assert attempts == 0
    # Control: the same receiver does act on an event for the order's real payment request.
    real = _event(payment_id=payment_id, status="declined", decline_reason="customer_declined")
    assert _post(live, real).status_code == 200
    assert _order_state(live, order_id) == ("payment_failed", "declined", payment_id)

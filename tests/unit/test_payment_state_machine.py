"""The life of a payment request, through the bank's services (no HTTP).

pending → approved | declined | expired | cancelled, each final status exactly
once, money moved only on approval, and one webhook queued per final status.
"""
import itertools
import json
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from app.bank import devices, ledger, services
from app.bank import merchants
from app.bank import cards
from app.bank.models import Customer, Merchant, PaymentRequest, PushMessage, Transfer, WebhookEvent, utcnow
from app.extensions import db


_keys = itertools.count(1)


@pytest.fixture
def bank(app):
    merchant = db.session.scalar(select(Merchant).where(Merchant.name == "Veldt Market"))
    customer = db.session.scalar(select(Customer).where(Customer.username == "thandi"))
    assert merchant is not None and customer is not None
    return merchant, customer


@pytest.fixture
def device_token(bank):
    """The token of a device the customer registered: approving with a PIN needs one (possession)."""
    _device, token = devices.register_device(bank[1], None, pin="1234")
    return token


def _request(merchant, customer, amount=11999, ttl=120):
    body = {"amount": amount, "currency": "ZAR", "card_number": cards.customer_card(customer).number,
            "merchant_reference": f"order-{next(_keys)}", "description": "Test purchase"}
    response, replayed = services.request_payment(merchant, f"key-{next(_keys)}", body, ttl)
    assert replayed is False
    return db.session.get(PaymentRequest, response["id"])


def _events(payment_id):
    return db.session.scalars(select(WebhookEvent).where(WebhookEvent.payment_request_id == payment_id)).all()


def _transfers(payment_id):
    return db.session.scalar(select(func.count(Transfer.id)).where(Transfer.payment_request_id == payment_id))


def _assert_one_event(payment, status):
    [event] = _events(payment.id)
    assert event.type == f"payment_request.{status}"
    body = json.loads(event.body)
    assert set(body) == {"id", "type", "created", "data"}
    assert body["id"] == event.id and body["id"].startswith("evt_")
    assert body["type"] == f"payment_request.{status}"
    assert isinstance(body["created"], int) and body["created"] > 1_600_000_000
    assert body["data"]["id"] == payment.id
    assert body["data"]["status"] == status
    assert body["data"]["amount"] == payment.amount
    assert event.url == payment.callback_url
    return body


def test_a_new_request_is_pending_with_no_event_and_no_money_moved(app, bank):
    merchant, customer = bank
    payment = _request(merchant, customer)
    assert payment.status == "pending"
    assert payment.customer_id == customer.id and payment.merchant_id == merchant.id
    assert len(payment.binding_code) == 4 and payment.binding_code.isdigit()
    assert _events(payment.id) == []
    assert _transfers(payment.id) == 0


def test_approval_moves_the_money_once(app, bank, device_token):
    merchant, customer = bank
    payer_before = ledger.balance_of(customer.account)
    merchant_before = ledger.balance_of(merchant.account)
    payment = _request(merchant, customer, amount=11999)

    approved = services.approve_payment_request(customer, payment.id, "1234", device_token)

    assert approved.status == "approved" and approved.decided_at is not None
    assert ledger.balance_of(customer.account) == payer_before - 11999
    assert ledger.balance_of(merchant.account) == merchant_before + 11999
    assert _transfers(payment.id) == 1
    _assert_one_event(approved, "approved")

    with pytest.raises(services.Conflict) as caught:
        services.approve_payment_request(customer, payment.id, "1234", device_token)
    assert "approved" in caught.value.message
    assert ledger.balance_of(customer.account) == payer_before - 11999
    assert _transfers(payment.id) == 1
    assert len(_events(payment.id)) == 1


def test_an_approval_reads_its_request_once_and_nothing_back_after_the_claim(app, bank, device_token):
    """The claim's UPDATE says what it wrote: reading the request back (and, with it, its card again) cost
    two statements on every approval's path. What the approval then reports is what was stored."""
    merchant, customer = bank
    payment_id, customer_id = _request(merchant, customer).id, customer.id
    db.session.commit()
    db.session.expunge_all()  # as a new request starts: nothing loaded yet
    customer = db.session.get(Customer, customer_id)
    statements = []
    engine = db.session.get_bind(mapper=PaymentRequest.__mapper__)

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()))
    event.listen(engine, "before_cursor_execute", record)
    try:
        services.approve_payment_request(customer, payment_id, "1234", device_token)
    finally:
        event.remove(engine, "before_cursor_execute", record)

    reads = [s for s in statements if s.startswith("SELECT")]
    assert len([s for s in reads if " FROM payment_requests " in s]) == 1, reads
    # The card: its lazy load, and the PIN check's fresh read of its lock state (a stale "active" would
    # answer a locked card's right and wrong PINs differently).
    assert len([s for s in reads if " FROM cards " in s]) == 2, reads
    # The webhook was written from the request as the claim left it, before the commit: what it tells the
    # merchant is what was stored.
    stored = db.session.get(PaymentRequest, payment_id)
    [webhook] = _events(payment_id)
    told = json.loads(webhook.body)["data"]
    assert (told["status"], told["decided_at"]) == ("approved", stored.to_api()["decided_at"])
    assert stored.status == "approved" and stored.decline_reason is None


def test_decline_then_approve_is_a_conflict(app, bank, device_token):
    merchant, customer = bank
    before = ledger.balance_of(customer.account)
    payment = _request(merchant, customer)
    declined = services.decline_payment_request(customer, payment.id)
    assert (declined.status, declined.decline_reason) == ("declined", "customer_declined")
    body = _assert_one_event(declined, "declined")
    assert body["data"]["decline_reason"] == "customer_declined"

    with pytest.raises(services.Conflict):
        services.approve_payment_request(customer, payment.id, "1234", device_token)
    with pytest.raises(services.Conflict):
        services.decline_payment_request(customer, payment.id)
    db.session.refresh(payment)
    assert payment.status == "declined"
    assert ledger.balance_of(customer.account) == before
    assert _transfers(payment.id) == 0
    assert len(_events(payment.id)) == 1


def test_ttl_zero_request_expires_and_cannot_be_approved(app, bank, device_token):
    """Overdue, it is refused and reported as expired at once; only the sweep stores that and queues the webhook."""
    merchant, customer = bank
    before = ledger.balance_of(customer.account)
    payment = _request(merchant, customer, ttl=0)

    with pytest.raises(services.Conflict) as caught:
        services.approve_payment_request(customer, payment.id, "1234", device_token)
    assert "expired" in caught.value.message
    assert cards.customer_card(customer).failed_pin_attempts == 0  # refused before the PIN was looked at
    db.session.refresh(payment)
    assert (payment.status, payment.effective_status, payment.to_api()["status"]) == ("pending", "expired", "expired")
    assert _events(payment.id) == []
    assert payment.id in [p.id for p in services.expire_overdue_payment_requests()]
    db.session.refresh(payment)
    assert payment.status == "expired"
    assert ledger.balance_of(customer.account) == before
    assert _transfers(payment.id) == 0
    _assert_one_event(payment, "expired")


def test_expiry_at_a_later_now_then_approve_is_a_conflict(app, bank, device_token):
    merchant, customer = bank
    payment = _request(merchant, customer, ttl=120)
    # Before the deadline the sweep leaves it alone.
    assert services.expire_overdue_payment_requests(now=utcnow() + timedelta(seconds=60)) == []
    db.session.refresh(payment)
    assert payment.status == "pending"

    later = utcnow() + timedelta(seconds=121)
    expired = services.expire_overdue_payment_requests(now=later)
    assert [p.id for p in expired] == [payment.id]
    db.session.refresh(payment)
    assert payment.status == "expired"
    _assert_one_event(payment, "expired")
    # A second sweep finds nothing and queues nothing more.
    assert services.expire_overdue_payment_requests(now=later + timedelta(seconds=5)) == []
    assert len(_events(payment.id)) == 1

    with pytest.raises(services.Conflict):
        services.approve_payment_request(customer, payment.id, "1234", device_token)
    assert _transfers(payment.id) == 0


def test_approval_after_the_deadline_moves_no_money(app, bank, device_token):
    """Approving with a `now` past expires_at must not approve, even before the sweep ran."""
    merchant, customer = bank
    before = ledger.balance_of(customer.account)
    payment = _request(merchant, customer, ttl=120)
    with pytest.raises(services.Conflict):
        services.approve_payment_request(customer, payment.id, "1234", device_token,
                                         now=utcnow() + timedelta(seconds=121))
    db.session.refresh(payment)
    assert payment.status != "approved"
    assert ledger.balance_of(customer.account) == before
    assert _transfers(payment.id) == 0


def test_merchant_cancels_a_pending_request_once(app, bank, device_token):
    merchant, customer = bank
    payment = _request(merchant, customer)
    cancelled = services.cancel_payment_request(merchant, payment.id)
    assert cancelled.status == "cancelled" and cancelled.decided_at is not None
    _assert_one_event(cancelled, "cancelled")

    with pytest.raises(services.Conflict) as caught:
        services.cancel_payment_request(merchant, payment.id)
    assert "cancelled" in caught.value.message
    with pytest.raises(services.Conflict):
        services.approve_payment_request(customer, payment.id, "1234", device_token)
    assert len(_events(payment.id)) == 1
    assert _transfers(payment.id) == 0


def test_cancel_of_an_approved_request_is_a_conflict(app, bank, device_token):
    merchant, customer = bank
    payment = _request(merchant, customer)
    services.approve_payment_request(customer, payment.id, "1234", device_token)
    with pytest.raises(services.Conflict):
        services.cancel_payment_request(merchant, payment.id)
    db.session.refresh(payment)
    assert payment.status == "approved"
    assert len(_events(payment.id)) == 1


def test_another_merchant_can_neither_see_nor_cancel(app, bank):
    merchant, customer = bank
    payment = _request(merchant, customer)
    other, _secret = merchants.create_merchant("Other Shop", "http://other.example/hook")
    with pytest.raises(services.NotFound):
        services.payment_request_for_merchant(other, payment.id)
    with pytest.raises(services.NotFound):
        services.cancel_payment_request(other, payment.id)
    with pytest.raises(services.NotFound):
        services.payment_request_for_merchant(merchant, "pr_does_not_exist")
    db.session.refresh(payment)
    assert payment.status == "pending"
    assert _events(payment.id) == []
    # The owner still can.
    assert services.payment_request_for_merchant(merchant, payment.id).id == payment.id


def test_another_customer_cannot_approve(app, bank):
    merchant, customer = bank
    payment = _request(merchant, customer)
    stranger = services.create_customer("stranger", "long-enough-pw", "1234", 100000)
    _device, strangers_token = devices.register_device(stranger, None, pin="1234")
    with pytest.raises(services.NotFound):
        services.approve_payment_request(stranger, payment.id, "1234", strangers_token)
    db.session.refresh(payment)
    assert payment.status == "pending"
    assert _transfers(payment.id) == 0


def test_wrong_pin_leaves_the_request_pending(app, bank, device_token):
    merchant, customer = bank
    before = ledger.balance_of(customer.account)
    payment = _request(merchant, customer)
    with pytest.raises(cards.WrongPin):
        services.approve_payment_request(customer, payment.id, "9999", device_token)
    for missing in ("", None):  # nothing typed: nothing checked, and no lock try spent
        with pytest.raises(cards.PinMissing):
            services.approve_payment_request(customer, payment.id, missing, device_token)
    assert cards.customer_card(customer).failed_pin_attempts == 1
    db.session.refresh(payment)
    assert payment.status == "pending" and payment.decided_at is None
    assert _events(payment.id) == []
    assert ledger.balance_of(customer.account) == before
    # and the right PIN still works afterwards
    assert services.approve_payment_request(customer, payment.id, "1234", device_token).status == "approved"


def test_insufficient_funds_declines_and_moves_nothing(app, bank, device_token):
    merchant, customer = bank
    balance = ledger.balance_of(customer.account)
    payment = _request(merchant, customer, amount=balance + 1)
    result = services.approve_payment_request(customer, payment.id, "1234", device_token)
    assert (result.status, result.decline_reason) == ("declined", "insufficient_funds")
    assert ledger.balance_of(customer.account) == balance
    assert _transfers(payment.id) == 0
    body = _assert_one_event(result, "declined")
    assert body["data"]["decline_reason"] == "insufficient_funds"


def _block_card(customer):
    card = cards.customer_card(customer)
    card.status = "blocked"
    db.session.commit()


def test_blocked_card_creates_a_declined_request(app, bank, device_token):
    merchant, customer = bank
    before = ledger.balance_of(customer.account)
    _block_card(customer)
    body = {"amount": 5000, "currency": "ZAR", "card_number": cards.customer_card(customer).number,
            "merchant_reference": "order-blocked"}
    response, replayed = services.request_payment(merchant, "blocked-key", body, 120)
    assert replayed is False
    payment = db.session.get(PaymentRequest, response["id"])
    assert (payment.status, payment.decline_reason) == ("declined", "card_blocked")
    event_body = _assert_one_event(payment, "declined")
    assert event_body["data"]["decline_reason"] == "card_blocked"
    with pytest.raises(services.Conflict):
        services.approve_payment_request(customer, payment.id, "1234", device_token)
    assert ledger.balance_of(customer.account) == before
    assert _transfers(payment.id) == 0


def test_blocked_card_response_tells_the_merchant_the_truth(app, bank):
    """The answer to the create call must agree with the stored request (and with its replay)."""
    merchant, customer = bank
    _block_card(customer)
    body = {"amount": 5000, "currency": "ZAR", "card_number": cards.customer_card(customer).number,
            "merchant_reference": "order-blocked-2"}
    response, _ = services.request_payment(merchant, "blocked-key-2", body, 120)
    assert response["status"] == "declined"
    assert response.get("decline_reason") == "card_blocked"
    replay, replayed = services.request_payment(merchant, "blocked-key-2", body, 120)
    assert replayed is True and replay["status"] == "declined"


def test_card_blocked_after_the_request_declines_on_approval(app, bank, device_token):
    merchant, customer = bank
    before = ledger.balance_of(customer.account)
    payment = _request(merchant, customer)
    _block_card(customer)
    result = services.approve_payment_request(customer, payment.id, "1234", device_token)
    assert (result.status, result.decline_reason) == ("declined", "card_blocked")
    assert ledger.balance_of(customer.account) == before
    _assert_one_event(result, "declined")


def test_pending_and_recent_lists_follow_the_status(app, bank):
    merchant, customer = bank
    first, second = _request(merchant, customer), _request(merchant, customer)
    assert {p.id for p in services.pending_requests_for(customer)} == {first.id, second.id}
    services.decline_payment_request(customer, first.id)
    assert [p.id for p in services.pending_requests_for(customer)] == [second.id]
    assert first.id in [p.id for p in services.recent_requests_for(customer)]


# --- push messages are written with the request (issue 9) ------------------------------------------

def _push_device(customer, endpoint):
    device, _token = devices.register_device(customer, None, pin="1234")
    device.endpoint, device.p256dh, device.auth = endpoint, "p256dh-key", "auth-key"
    db.session.commit()
    return device


def _pushes(payment_id):
    return db.session.scalars(select(PushMessage).where(PushMessage.payment_request_id == payment_id)).all()


def test_a_request_and_its_pushes_are_one_commit(app, bank):
    """One push per registered phone with an endpoint, in the request's own commit: a rollback after
    `request_payment` returns (as a crash would) leaves both, and nothing else is needed to send them."""
    merchant, customer = bank
    phones = {_push_device(customer, f"https://fcm.googleapis.com/fcm/send/phone-{n}").id for n in (1, 2)}
    devices.register_device(customer, None, pin="1234")  # a browser without push gets none
    payment = _request(merchant, customer)
    db.session.rollback()
    db.session.expire_all()
    pushes = _pushes(payment.id)
    assert {p.device_id for p in pushes} == phones
    assert {(p.kind, p.state) for p in pushes} == {("payment_request", "queued")}
    assert json.loads(pushes[0].payload)["url"].endswith(f"/bank/app/approvals/{payment.id}")


def test_a_failed_commit_writes_neither_request_nor_push(app, bank, monkeypatch):
    merchant, customer = bank
    _push_device(customer, "https://fcm.googleapis.com/fcm/send/phone-1")
    body = {"amount": 100, "currency": "ZAR", "card_number": cards.customer_card(customer).number,
            "merchant_reference": "order-crash"}

    def crash():
        raise RuntimeError("the process died at the commit")
    monkeypatch.setattr(db.session, "commit", crash)
    with pytest.raises(RuntimeError):
        services.request_payment(merchant, "crash-key", body, 120)
    monkeypatch.undo()
    db.session.rollback()
    assert db.session.scalar(select(func.count(PaymentRequest.id))
                             .where(PaymentRequest.merchant_reference == "order-crash")) == 0
    assert db.session.scalar(select(func.count(PushMessage.id))) == 0


def test_a_request_declined_at_once_pushes_nothing(app, bank):
    merchant, customer = bank
    _push_device(customer, "https://fcm.googleapis.com/fcm/send/phone-1")
    _block_card(customer)
    body = {"amount": 100, "currency": "ZAR", "card_number": cards.customer_card(customer).number,
            "merchant_reference": "order-blocked-push"}
    response, _ = services.request_payment(merchant, "blocked-push", body, 120)
    assert response["status"] == "declined" and _pushes(response["id"]) == []


# --- reads do not write (issue 9) -----------------------------------------------------------------

def test_reads_report_an_overdue_request_as_expired_without_storing_it(app, bank):
    merchant, customer = bank
    payment = _request(merchant, customer, ttl=0)
    assert services.payment_request_for_merchant(merchant, payment.id).to_api()["status"] == "expired"
    assert services.payment_request_for_customer(customer, payment.id).effective_status == "expired"
    assert payment.id not in [p.id for p in services.pending_requests_for(customer)]
    assert payment.id in [p.id for p in services.recent_requests_for(customer)]
    db.session.rollback()  # whatever a read left unflushed or uncommitted is gone now
    db.session.expire_all()
    stored = db.session.get(PaymentRequest, payment.id)
    assert (stored.status, stored.decided_at) == ("pending", None)
    assert _events(payment.id) == []
    # Only the sweep stores it, once, with its webhook.
    assert [p.id for p in services.expire_overdue_payment_requests(request_id=payment.id)] == [payment.id]
    db.session.refresh(stored)
    assert stored.status == "expired"
    _assert_one_event(stored, "expired")


def test_decisions_on_an_overdue_request_are_refused_as_expired_and_write_nothing(app, bank):
    merchant, customer = bank
    payment = _request(merchant, customer, ttl=0)
    for decide in (lambda: services.decline_payment_request(customer, payment.id),
                   lambda: services.cancel_payment_request(merchant, payment.id)):
        with pytest.raises(services.Conflict) as caught:
            decide()
        assert caught.value.message == "This payment request has expired."
    db.session.expire_all()
    assert db.session.get(PaymentRequest, payment.id).status == "pending"
    assert _events(payment.id) == []


def test_the_api_answers_expired_without_writing(app, bank, client):
    """GET /bank/api/v1/payment-requests/<id> is a read: it reports the expiry, the sweep stores it."""
    merchant, customer = bank
    payment = _request(merchant, customer, ttl=0)
    token = client.post("/bank/oauth/token", data={"grant_type": "client_credentials", "scope": "payments"},
                        auth=(app.config["BANK_CLIENT_ID"], app.config["BANK_CLIENT_SECRET"])).get_json()
    response = client.get(f"/bank/api/v1/payment-requests/{payment.id}",
                          headers={"Authorization": f"Bearer {token['access_token']}"})
    assert response.status_code == 200 and response.get_json()["status"] == "expired"
    db.session.expire_all()
    assert db.session.get(PaymentRequest, payment.id).status == "pending"
    assert _events(payment.id) == []

"""services.request_payment: at most one pending payment request per merchant reference (issue 8)."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.bank import devices, services
from app.bank import cards
from app.bank.models import Customer, Merchant, PaymentRequest, utcnow
from app.extensions import db


@pytest.fixture
def bank(app):
    merchant = db.session.scalar(select(Merchant).where(Merchant.name == "Veldt Market"))
    customer = db.session.scalar(select(Customer).where(Customer.username == "thandi"))
    return merchant, customer


def _body(customer, reference="order-77", amount=11999):
    return {"amount": amount, "currency": "ZAR", "card_number": cards.customer_card(customer).number,
            "merchant_reference": reference, "description": "Headlamp"}


def _pending(reference="order-77"):
    return db.session.scalar(select(func.count(PaymentRequest.id)).where(
        PaymentRequest.merchant_reference == reference, PaymentRequest.status == "pending"))


def _refused(merchant, customer, key="retry-with-another-card"):
    """A second request for the reference, under a new key (as after a lost answer), is refused."""
    with pytest.raises(services.Conflict, match="already pending") as refused:
        services.request_payment(merchant, key, _body(customer, amount=12000), 120)
    assert refused.value.code == "reference_pending"
    assert "approved, declined, cancelled or expire" in refused.value.message
    assert _pending() == 1


def test_a_second_pending_request_is_refused_but_the_same_key_still_replays(app, bank):
    merchant, customer = bank
    first, _ = services.request_payment(merchant, "lost-answer", _body(customer), 120)
    _refused(merchant, customer)
    again, replayed = services.request_payment(merchant, "lost-answer", _body(customer), 120)
    assert replayed is True and again == first  # the idempotent replay wins over the refusal
    _refused(merchant, customer, key="yet-another-key")
    # Another reference is another order: not held up.
    services.request_payment(merchant, "other-order", _body(customer, reference="order-78"), 120)
    assert _pending("order-78") == 1


@pytest.mark.parametrize("decide", [
    lambda merchant, customer, request_id: services.cancel_payment_request(merchant, request_id),
    lambda merchant, customer, request_id: services.decline_payment_request(customer, request_id),
], ids=["cancelled", "declined"])  # after an approval the reference is paid: see the last test
def test_a_new_request_is_allowed_once_the_first_is_final(app, bank, decide):
    merchant, customer = bank
    first, _ = services.request_payment(merchant, "first", _body(customer), 120)
    _refused(merchant, customer)
    decide(merchant, customer, first["id"])
    second, replayed = services.request_payment(merchant, "second", _body(customer), 120)
    assert replayed is False and second["id"] != first["id"] and second["status"] == "pending"
    assert _pending() == 1


def test_an_overdue_pending_request_is_expired_first_and_then_a_new_one_is_allowed(app, bank):
    merchant, customer = bank
    first, _ = services.request_payment(merchant, "first", _body(customer), 120)
    _refused(merchant, customer)
    overdue = db.session.get(PaymentRequest, first["id"])
    overdue.expires_at = utcnow() - timedelta(seconds=1)  # its deadline passed; nobody expired it yet
    db.session.commit()
    second, _ = services.request_payment(merchant, "second", _body(customer), 120)
    assert second["status"] == "pending"
    assert db.session.get(PaymentRequest, first["id"]).status == "expired"
    assert _pending() == 1


def test_the_database_itself_refuses_a_second_pending_request(app, bank):
    merchant, customer = bank
    first, _ = services.request_payment(merchant, "first", _body(customer), 120)
    template = db.session.get(PaymentRequest, first["id"])
    db.session.add(PaymentRequest(
        merchant_id=merchant.id, card_id=template.card_id, customer_id=customer.id, amount=1, currency="ZAR",
        merchant_reference="order-77", callback_url=template.callback_url, binding_code="0000",
        expires_at=template.expires_at))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_a_race_past_the_check_is_the_same_conflict_and_the_same_key_still_replays(app, bank, monkeypatch):
    merchant, customer = bank
    first, _ = services.request_payment(merchant, "first", _body(customer), 120)
    # Requests that passed the checks before the first was written: the index decides.
    monkeypatch.setattr(services, "_refuse_a_second_pending_request", lambda *args: None)
    with pytest.raises(services.Conflict, match="already pending"):
        services.request_payment(merchant, "second", _body(customer, amount=5), 120)
    real_replay, looked = services._replay, []

    def replay_found_nothing_the_first_time(*args):  # the same key, still being written by another thread
        looked.append(args)
        return None if len(looked) == 1 else real_replay(*args)
    monkeypatch.setattr(services, "_replay", replay_found_nothing_the_first_time)
    again, replayed = services.request_payment(merchant, "first", _body(customer), 120)
    assert replayed is True and again == first
    assert _pending() == 1


def test_a_paid_reference_is_never_requested_again(app):
    """After an approval the order is paid: no second request for it, pending or not."""
    merchant = db.session.scalar(select(Merchant))
    customer = db.session.scalar(select(Customer).where(Customer.username == "thandi"))
    card = cards.customer_card(customer).number
    body = {"amount": 1000, "currency": "ZAR", "card_number": card, "merchant_reference": "order-paid-once"}
    first, _ = services.request_payment(merchant, "paid-1", body, 120)
    _device, device_token = devices.register_device(customer, None, pin="1234")
    assert services.approve_payment_request(customer, first["id"], "1234", device_token).status == "approved"
    with pytest.raises(services.ReferencePaid):
        services.request_payment(merchant, "paid-2", body, 120)

"""Five wrong PINs in a row lock the card; a right one resets the count; the bank can unlock."""
import json

import pytest
from sqlalchemy import event, select

from app.bank import devices, services
from app.bank import cards
from app.bank.models import Customer, Merchant
from app.extensions import db


@pytest.fixture
def pending(app):
    customer = db.session.scalar(select(Customer).where(Customer.username == "thandi"))
    merchant = db.session.scalar(select(Merchant))
    card = cards.customer_card(customer)
    body, _ = services.request_payment(merchant, "key-1", {"amount": 1000, "currency": "ZAR", "card_number": card.number,
                                                           "merchant_reference": "order-1"}, 120)
    return customer, card, body["id"]


@pytest.fixture
def device_token(pending):
    """The token of a device the customer registered (before any wrong PIN): approving needs one."""
    _device, token = devices.register_device(pending[0], None, pin="1234")
    return token


def test_the_fifth_wrong_pin_locks_the_card(pending, device_token):
    customer, card, request_id = pending
    messages = []
    for _ in range(4):
        with pytest.raises(cards.WrongPin) as caught:
            services.approve_payment_request(customer, request_id, "0000", device_token)
        messages.append(caught.value.message)
    assert messages == [f"Wrong PIN. {n} {'try' if n == 1 else 'tries'} left before the card locks." for n in (4, 3, 2, 1)]
    with pytest.raises(cards.CardLocked) as caught:
        services.approve_payment_request(customer, request_id, "0000", device_token)
    assert caught.value.message.startswith("Wrong PIN. Your card is locked")
    assert (card.status, card.failed_pin_attempts) == ("blocked", 5)
    payment = services.payment_request_for_customer(customer, request_id)
    assert (payment.status, payment.decline_reason) == ("declined", "card_blocked")
    with pytest.raises(services.Conflict):  # even the right PIN cannot bring it back
        services.approve_payment_request(customer, request_id, "1234", device_token)


def test_a_new_request_on_a_locked_card_is_declined_card_blocked(pending, device_token):
    customer, card, request_id = pending
    for _ in range(5):
        with pytest.raises((cards.WrongPin, cards.CardLocked)):
            services.approve_payment_request(customer, request_id, "0000", device_token)
    merchant = db.session.scalar(select(Merchant))
    body, _ = services.request_payment(merchant, "key-3", {"amount": 500, "currency": "ZAR", "card_number": card.number,
                                                           "merchant_reference": "order-3"}, 120)
    assert (body["status"], body["decline_reason"]) == ("declined", "card_blocked")


def test_a_right_pin_resets_the_count(pending, device_token):
    customer, card, request_id = pending
    for _ in range(4):
        with pytest.raises(cards.WrongPin):
            services.approve_payment_request(customer, request_id, "9999", device_token)
    services.approve_payment_request(customer, request_id, "1234", device_token)
    db.session.expire_all()  # as stored, not as this session last wrote it
    assert (card.status, card.failed_pin_attempts) == ("active", 0)


def test_an_approval_with_the_right_pin_is_one_commit(pending, device_token):
    """The right PIN's reset of the count joins the approval's transaction: one write lock, one commit,
    and no lock can land on the card between the PIN and the money moving."""
    customer, card, request_id = pending
    with pytest.raises(cards.WrongPin):
        services.approve_payment_request(customer, request_id, "9999", device_token)
    commits = []
    engine = db.engines["bank"]
    listener = lambda connection: commits.append(connection)  # noqa: E731
    event.listen(engine, "commit", listener)
    try:
        payment = services.approve_payment_request(customer, request_id, "1234", device_token)
    finally:
        event.remove(engine, "commit", listener)
    assert payment.status == "approved" and len(commits) == 1
    db.session.expire_all()
    assert card.failed_pin_attempts == 0  # committed with the approval


def test_unlock_card_command(pending, runner, device_token):
    customer, card, request_id = pending
    for _ in range(5):
        with pytest.raises((cards.WrongPin, cards.CardLocked)):
            services.approve_payment_request(customer, request_id, "0000", device_token)
    result = runner.invoke(args=["bank", "unlock-card", "--username", "thandi"])
    assert json.loads(result.output) == {"card_number": card.number, "status": "active", "failed_pin_attempts": 0,
                                         "factors_removed": 0}
    db.session.expire_all()
    merchant = db.session.scalar(select(Merchant))
    body, _ = services.request_payment(merchant, "key-2", {"amount": 500, "currency": "ZAR", "card_number": card.number,
                                                           "merchant_reference": "order-2"}, 120)
    assert services.approve_payment_request(customer, body["id"], "1234", device_token).status == "approved"
    assert runner.invoke(args=["bank", "unlock-card", "--card", "4000000000000002"]).exit_code != 0

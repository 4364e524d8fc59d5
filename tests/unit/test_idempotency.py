"""services.request_payment: one request per Idempotency-Key, and validation that names the field."""
import pytest
from sqlalchemy import func, select

from app.bank import services
from app.bank import merchants
from app.bank import cards
from app.bank.models import Customer, IdempotencyRecord, Merchant, PaymentRequest
from app.extensions import db



@pytest.fixture
def bank(app):
    merchant = db.session.scalar(select(Merchant).where(Merchant.name == "Veldt Market"))
    customer = db.session.scalar(select(Customer).where(Customer.username == "thandi"))
    return merchant, customer


def _body(customer, **changes):
    body = {"amount": 11999, "currency": "ZAR", "card_number": cards.customer_card(customer).number,
            "merchant_reference": "order-42", "description": "Headlamp"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not _MISSING}


_MISSING = object()


def _counts():
    return (db.session.scalar(select(func.count(PaymentRequest.id))),
            db.session.scalar(select(func.count(IdempotencyRecord.id))))


def test_same_key_and_body_replays_the_first_answer(app, bank):
    merchant, customer = bank
    first, replayed = services.request_payment(merchant, "key-1", _body(customer), 120)
    assert replayed is False
    assert first["status"] == "pending" and first["amount"] == 11999
    counts = _counts()

    # the same body with its keys in another order is the same request
    again, replayed = services.request_payment(merchant, "key-1", dict(reversed(list(_body(customer).items()))), 120)
    assert replayed is True
    assert again == first
    assert _counts() == counts


def test_replay_answers_the_original_even_after_the_request_moved_on(app, bank):
    merchant, customer = bank
    first, _ = services.request_payment(merchant, "key-2", _body(customer), 120)
    services.cancel_payment_request(merchant, first["id"])
    again, replayed = services.request_payment(merchant, "key-2", _body(customer), 120)
    assert replayed is True and again["id"] == first["id"]
    assert db.session.scalar(select(func.count(PaymentRequest.id)).where(
        PaymentRequest.merchant_reference == "order-42")) == 1


def test_same_key_with_another_body_is_a_conflict(app, bank):
    merchant, customer = bank
    services.request_payment(merchant, "key-3", _body(customer), 120)
    counts = _counts()
    for changed in (_body(customer, amount=12000), _body(customer, merchant_reference="order-43"),
                    _body(customer, description="Something else")):
        with pytest.raises(services.Conflict):
            services.request_payment(merchant, "key-3", changed, 120)
    assert _counts() == counts


def test_keys_are_per_merchant(app, bank):
    merchant, customer = bank
    other, _ = merchants.create_merchant("Other Shop", "http://other.example/hook")
    mine, _ = services.request_payment(merchant, "shared-key", _body(customer), 120)
    theirs, replayed = services.request_payment(other, "shared-key", _body(customer, amount=500), 120)
    assert replayed is False
    assert theirs["id"] != mine["id"] and theirs["amount"] == 500


def test_missing_or_overlong_key_is_an_invalid_field(app, bank):
    merchant, customer = bank
    counts = _counts()
    for key in ("", None, "k" * 256):
        with pytest.raises(services.InvalidField) as caught:
            services.request_payment(merchant, key, _body(customer), 120)
        assert caught.value.field == "Idempotency-Key"
        assert "Idempotency-Key" in caught.value.message
    assert _counts() == counts
    # exactly 255 characters is allowed
    response, replayed = services.request_payment(merchant, "k" * 255, _body(customer), 120)
    assert replayed is False and response["status"] == "pending"


def test_validation_errors_name_the_field_and_create_nothing(app, bank):
    merchant, customer = bank
    card = cards.customer_card(customer).number
    bad_check_digit = card[:-1] + str((int(card[-1]) + 1) % 10)
    cases = [
        ({"amount": True}, "amount"),
        ({"amount": False}, "amount"),
        ({"amount": 119.99}, "amount"),
        ({"amount": 100.0}, "amount"),
        ({"amount": "11999"}, "amount"),
        ({"amount": -1}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": services.MAX_AMOUNT + 1}, "amount"),
        ({"amount": _MISSING}, "amount"),
        ({"currency": "USD"}, "currency"),
        ({"currency": "zar"}, "currency"),
        ({"currency": _MISSING}, "currency"),
        ({"card_number": bad_check_digit}, "card_number"),
        ({"card_number": "4111111111111111"}, "card_number"),  # Luhn-valid, not a Baobab card
        ({"card_number": "abcd"}, "card_number"),
        ({"card_number": 12345}, "card_number"),
        ({"card_number": _MISSING}, "card_number"),
        ({"merchant_reference": _MISSING}, "merchant_reference"),
        ({"merchant_reference": ""}, "merchant_reference"),
        ({"merchant_reference": 42}, "merchant_reference"),
        ({"merchant_reference": "x" * 101}, "merchant_reference"),
        ({"description": "x" * 201}, "description"),
        ({"description": ["list"]}, "description"),
        ({"callback_url": "ftp://example.com/hook"}, "callback_url"),
        ({"callback_url": "/relative"}, "callback_url"),
        ({"callback_url": 7}, "callback_url"),
    ]
    counts = _counts()
    for i, (changes, field) in enumerate(cases):
        with pytest.raises(services.InvalidField) as caught:
            services.request_payment(merchant, f"invalid-{i}", _body(customer, **changes), 120)
        assert caught.value.field == field, changes
        assert field in caught.value.message, changes
    for not_an_object in ([1, 2], "text", 5):
        with pytest.raises(services.InvalidField) as caught:
            services.request_payment(merchant, "invalid-body", not_an_object, 120)
        assert caught.value.field == "body"
    assert _counts() == counts
    # the biggest allowed amount and a card typed with spaces are fine
    spaced = " ".join(card[i:i + 4] for i in range(0, len(card), 4))
    response, _ = services.request_payment(
        merchant, "valid-max", _body(customer, amount=services.MAX_AMOUNT, card_number=spaced), 120)
    assert response["amount"] == services.MAX_AMOUNT and response["card_last4"] == card[-4:]


def test_a_failed_validation_does_not_burn_the_key(app, bank):
    merchant, customer = bank
    with pytest.raises(services.InvalidField):
        services.request_payment(merchant, "retry-key", _body(customer, amount=-5), 120)
    response, replayed = services.request_payment(merchant, "retry-key", _body(customer), 120)
    assert replayed is False and response["amount"] == 11999

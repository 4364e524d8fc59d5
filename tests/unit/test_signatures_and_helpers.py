"""Webhook signatures, the shop's replay memory, Luhn and money formatting."""
import hashlib
import hmac
import time

import pytest
from sqlalchemy import func, select

from app.common.money import InvalidAmount, format_money, parse_money
from app.common.security import (SignatureError, luhn_check_digit, luhn_valid, normalise_card_number,
                                 sign_webhook, verify_webhook_signature)
from app.extensions import db
from app.shop import services as shop_services
from app.shop.models import ReceivedWebhook

SECRET = "whsec_test_secret"
BODY = b'{"id":"evt_1","type":"payment_request.approved","created":1,"data":{"id":"pr_1"}}'
NOW = 1_800_000_000


# --- signing and verifying --------------------------------------------------------

def test_signature_header_has_the_documented_shape():
    header = sign_webhook(SECRET, BODY, timestamp=NOW)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"


def test_a_valid_signature_passes():
    header = sign_webhook(SECRET, BODY, timestamp=NOW)
    assert verify_webhook_signature(SECRET, header, BODY, now=NOW) == NOW
    assert verify_webhook_signature(SECRET, header, BODY, now=NOW + 300) == NOW  # edge of the window
    assert verify_webhook_signature(SECRET, sign_webhook(SECRET, BODY), BODY) > 0  # real clock


@pytest.mark.parametrize("secret, body", [
    ("whsec_other_secret", BODY),              # signed by someone else
    (SECRET, BODY.replace(b"pr_1", b"pr_2")),  # body altered after signing
    (SECRET, BODY + b" "),                     # even by one byte
])
def test_forged_signatures_are_rejected(secret, body):
    header = sign_webhook(secret, body, timestamp=NOW)
    with pytest.raises(SignatureError, match="does not match"):
        verify_webhook_signature(SECRET, header, BODY, now=NOW)


def test_a_signature_moved_to_another_timestamp_is_rejected():
    mac = sign_webhook(SECRET, BODY, timestamp=NOW).split("v1=")[1]
    with pytest.raises(SignatureError, match="does not match"):
        verify_webhook_signature(SECRET, f"t={NOW + 1},v1={mac}", BODY, now=NOW)


@pytest.mark.parametrize("offset", [-301, -400, -86400, 301, 400, 86400])
def test_stale_or_future_timestamps_are_rejected(offset):
    header = sign_webhook(SECRET, BODY, timestamp=NOW + offset)
    with pytest.raises(SignatureError, match="tolerance"):
        verify_webhook_signature(SECRET, header, BODY, now=NOW)


@pytest.mark.parametrize("header", [
    None, "", "garbage", "v1=abc", "t=,v1=abc", "t=abc,v1=abc", "t=1.5,v1=abc", ",,,", "t", "=",
])
def test_missing_or_malformed_headers_are_rejected(header):
    with pytest.raises(SignatureError):
        verify_webhook_signature(SECRET, header, BODY, now=NOW)


def test_a_header_with_no_v1_is_rejected():
    with pytest.raises(SignatureError):
        verify_webhook_signature(SECRET, f"t={NOW}", BODY, now=NOW)
    with pytest.raises(SignatureError):
        verify_webhook_signature(SECRET, f"t={NOW},v0=" + "0" * 64, BODY, now=NOW)


def test_one_matching_v1_among_several_passes():
    good = sign_webhook(SECRET, BODY, timestamp=NOW).split("v1=")[1]
    other = sign_webhook("whsec_rotated_out", BODY, timestamp=NOW).split("v1=")[1]
    for header in (f"t={NOW},v1={other},v1={good}", f"t={NOW},v1={good},v1={other}",
                   f"t={NOW}, v1={other}, v1={good}"):
        assert verify_webhook_signature(SECRET, header, BODY, now=NOW) == NOW
    with pytest.raises(SignatureError):
        verify_webhook_signature(SECRET, f"t={NOW},v1={other},v1={'0' * 64}", BODY, now=NOW)


def test_real_clock_staleness():
    header = sign_webhook(SECRET, BODY, timestamp=time.time() - 400)
    with pytest.raises(SignatureError):
        verify_webhook_signature(SECRET, header, BODY)


# --- the shop remembers event ids ---------------------------------------------------

def test_record_webhook_event_refuses_a_seen_id(app):
    assert shop_services.record_webhook_event("evt_unit_1", "payment_request.approved") is True
    db.session.commit()
    assert shop_services.record_webhook_event("evt_unit_1", "payment_request.approved") is False
    assert shop_services.record_webhook_event("evt_unit_1", "payment_request.declined") is False
    assert shop_services.record_webhook_event("evt_unit_2", "payment_request.approved") is True
    db.session.commit()
    assert db.session.scalar(select(func.count(ReceivedWebhook.id)).where(
        ReceivedWebhook.event_id == "evt_unit_1")) == 1


# --- Luhn -------------------------------------------------------------------------

@pytest.mark.parametrize("number", ["4111111111111111", "5555555555554444", "378282246310005",
                                    "79927398713", "4000120000000006"[:-1] + luhn_check_digit("400012000000000")])
def test_luhn_accepts_valid_numbers(number):
    assert luhn_valid(number)


@pytest.mark.parametrize("number", ["4111111111111112", "4111111111111121", "79927398710", "1234567812345678",
                                    "", "0", "4111-1111-1111-1111", "411111111111111a"])
def test_luhn_rejects_invalid_numbers(number):
    assert not luhn_valid(number)


def test_luhn_check_digit_on_known_numbers():
    assert luhn_check_digit("411111111111111") == "1"
    assert luhn_check_digit("7992739871") == "3"
    assert luhn_check_digit("555555555555444") == "4"
    assert luhn_check_digit("37828224631000") == "5"
    for body in ("400012123456789", "400012000000000", "999999999999999"):
        digit = luhn_check_digit(body)
        assert len(digit) == 1 and luhn_valid(body + digit)
        assert sum(luhn_valid(body + str(d)) for d in range(10)) == 1


def test_normalise_card_number_drops_spaces_and_dashes():
    assert normalise_card_number(" 4111 1111-1111 1111 ") == "4111111111111111"


# --- money ------------------------------------------------------------------------

@pytest.mark.parametrize("cents, text", [
    (0, "R 0.00"), (1, "R 0.01"), (99, "R 0.99"), (100, "R 1.00"), (11999, "R 119.99"),
    (100000, "R 1 000.00"), (123456789, "R 1 234 567.89"),
    (-1, "-R 0.01"), (-11999, "-R 119.99"), (-123456789, "-R 1 234 567.89"),
])
def test_format_money(cents, text):
    assert format_money(cents) == text


def test_format_money_other_currency():
    assert format_money(11999, "USD") == "USD 119.99"


@pytest.mark.parametrize("text, cents", [
    ("5000.00", 500000), ("5000", 500000), ("119.99", 11999), ("0.5", 50), ("0", 0), (" 1 000.10 ", 100010),
    ("0.01", 1), (12, 1200),
])
def test_parse_money_valid(text, cents):
    assert parse_money(text) == cents
    assert isinstance(parse_money(text), int)


@pytest.mark.parametrize("text", ["1.001", "119.999", "-1", "-0.01", "abc", "", "1,50", "R 10", "1e", None,
                                  "NaN", "Infinity", "1e400"])
def test_parse_money_invalid(text):
    with pytest.raises(InvalidAmount):
        parse_money(text)


@pytest.mark.parametrize("target, expected", [
    ("/shop/orders/", "/shop/orders/"), ("/shop/cart?x=1", "/shop/cart?x=1"),
    ("//evil.example/shop/", "FALLBACK"), ("https://evil.example/shop/", "FALLBACK"), ("/shop\\@evil", "FALLBACK"),
    ("/shop/\r\nSet-Cookie: x", "FALLBACK"), ("/bank/app/", "FALLBACK"), ("", "FALLBACK"), (None, "FALLBACK"),
    (["/shop/"], "FALLBACK"), ("/shop/../idp/", "/shop/../idp/"),  # a path on this site: harmless
])
def test_one_rule_for_every_next_parameter(target, expected):
    from app.common.security import local_path_or
    assert local_path_or(target, "/shop/", "FALLBACK") == expected

"""The factor policy lives in the services: each approval service checks every factor itself.

These tests call the services directly, as a new caller would, with one factor
missing or wrong at a time, and check that nothing moves: the request stays
pending, no money, no webhook. Each group also approves with every factor right,
so a test that could not fail would show.
"""
import base64
import hashlib
import itertools
import json
import secrets

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from app.bank import devices, ledger, passkeys, services
from app.bank import cards
from app.bank.models import Customer, Merchant, Passkey, PaymentRequest, Transfer, WebhookEvent
from app.extensions import db

_keys = itertools.count(1)


@pytest.fixture
def bank(app):
    merchant = db.session.scalar(select(Merchant).where(Merchant.name == "Veldt Market"))
    customer = db.session.scalar(select(Customer).where(Customer.username == "thandi"))
    return merchant, customer


@pytest.fixture
def device_token(bank):
    """A device the customer registered with their PIN: its token is the possession factor."""
    _device, token = devices.register_device(bank[1], None, pin="1234")
    return token


@pytest.fixture
def payment(bank):
    merchant, customer = bank
    body = {"amount": 2500, "currency": "ZAR", "card_number": cards.customer_card(customer).number,
            "merchant_reference": f"order-factors-{next(_keys)}"}
    response, _ = services.request_payment(merchant, f"factors-{next(_keys)}", body, 120)
    return db.session.get(PaymentRequest, response["id"])


def _assert_nothing_moved(payment, balance_before):
    db.session.expire_all()
    payment = db.session.get(PaymentRequest, payment.id)
    assert (payment.status, payment.decided_at) == ("pending", None)
    assert ledger.balance_of(payment.card.account) == balance_before
    assert db.session.scalar(select(func.count(Transfer.id)).where(Transfer.payment_request_id == payment.id)) == 0
    assert db.session.scalar(select(func.count(WebhookEvent.id))
                             .where(WebhookEvent.payment_request_id == payment.id)) == 0


# --- PIN approval: the customer, a registered device, the PIN ------------------------------------

def test_every_factor_right_approves(bank, payment, device_token):
    _merchant, customer = bank
    assert services.approve_payment_request(customer, payment.id, "1234", device_token).status == "approved"


@pytest.mark.parametrize("token", [None, "", "a-token-nobody-was-given"])
def test_no_registered_device_moves_nothing_and_costs_no_pin_try(bank, payment, device_token, token):
    _merchant, customer = bank
    before = ledger.balance_of(customer.account)
    for pin in ("1234", "0000"):  # not even a wrong PIN is looked at: the device is refused first
        with pytest.raises(devices.NotARegisteredDevice):
            services.approve_payment_request(customer, payment.id, pin, token)
    assert cards.customer_card(customer).failed_pin_attempts == 0
    _assert_nothing_moved(payment, before)


def test_another_customers_device_does_not_count(bank, payment, device_token):
    _merchant, customer = bank
    before = ledger.balance_of(customer.account)
    stranger = services.create_customer("stranger", "long-enough-pw", "4321", 100000)
    _device, strangers_token = devices.register_device(stranger, None, pin="4321")
    with pytest.raises(devices.NotARegisteredDevice):
        services.approve_payment_request(customer, payment.id, "1234", strangers_token)
    with pytest.raises(services.NotFound):  # and the stranger, with their own device, cannot see it at all
        services.approve_payment_request(stranger, payment.id, "4321", strangers_token)
    _assert_nothing_moved(payment, before)


def test_a_removed_device_no_longer_counts(bank, payment, device_token):
    _merchant, customer = bank
    before = ledger.balance_of(customer.account)
    device = devices.device_for_token(customer, device_token)
    devices.remove_device(customer, device.id)
    with pytest.raises(devices.NotARegisteredDevice):
        services.approve_payment_request(customer, payment.id, "1234", device_token)
    _assert_nothing_moved(payment, before)


def test_a_wrong_pin_moves_nothing(bank, payment, device_token):
    _merchant, customer = bank
    before = ledger.balance_of(customer.account)
    with pytest.raises(cards.WrongPin):
        services.approve_payment_request(customer, payment.id, "9999", device_token)
    assert cards.customer_card(customer).failed_pin_attempts == 1
    _assert_nothing_moved(payment, before)


@pytest.mark.parametrize("pin", [None, ""])
def test_no_pin_moves_nothing(bank, payment, device_token, pin):
    _merchant, customer = bank
    before = ledger.balance_of(customer.account)
    with pytest.raises(cards.PinMissing):
        services.approve_payment_request(customer, payment.id, pin, device_token)
    _assert_nothing_moved(payment, before)


def test_the_pin_service_takes_no_word_for_a_factor(bank, payment):
    """No `pin_checked=True` or `device_checked=True`: a caller cannot vouch for a factor."""
    _merchant, customer = bank
    with pytest.raises(TypeError):
        services.approve_payment_request(customer, payment.id, None, None, pin_checked=True)
    with pytest.raises(TypeError):
        services.approve_payment_request_with_passkey(customer, payment.id)  # no assertion, no approval


# --- passkey approval: a WebAuthn assertion with user verification ------------------------------

def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SoftAuthenticator:
    """A platform authenticator in software: one ES256 key, assertions signed as a phone signs them."""

    def __init__(self, customer):
        self.key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.key.public_key().public_numbers()
        cose = {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        self.credential_id = _b64url(secrets.token_bytes(16))
        self.sign_count = 0
        db.session.add(Passkey(customer_id=customer.id, credential_id=self.credential_id,
                               public_key=cbor2.dumps(cose), sign_count=0))
        db.session.commit()

    def assertion(self, challenge, public_url, user_verified=True):
        rp_id, origin = passkeys.relying_party(public_url)
        self.sign_count += 1
        flags = 0x01 | (0x04 if user_verified else 0)  # UP, and UV when the fingerprint unlocked the key
        authenticator_data = (hashlib.sha256(rp_id.encode()).digest() + bytes([flags])
                              + self.sign_count.to_bytes(4, "big"))
        client_data = json.dumps({"type": "webauthn.get", "challenge": _b64url(challenge), "origin": origin,
                                  "crossOrigin": False}).encode()
        signature = self.key.sign(authenticator_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {"id": self.credential_id, "rawId": self.credential_id, "type": "public-key",
                "response": {"authenticatorData": _b64url(authenticator_data), "clientDataJSON": _b64url(client_data),
                             "signature": _b64url(signature)}}


@pytest.fixture
def public_url(app):
    return app.config["PUBLIC_URL"]


@pytest.fixture
def phone(bank):
    return SoftAuthenticator(bank[1])


def test_a_verified_passkey_assertion_approves(bank, payment, phone, public_url):
    _merchant, customer = bank
    challenge = secrets.token_bytes(32)
    approved = services.approve_payment_request_with_passkey(
        customer, payment.id, phone.assertion(challenge, public_url), challenge, public_url)
    assert approved.status == "approved"


def _refused(customer, payment, credential, challenge, public_url, match=None):
    before = ledger.balance_of(customer.account)
    with pytest.raises(passkeys.PasskeyError, match=match):
        services.approve_payment_request_with_passkey(customer, payment.id, credential, challenge, public_url)
    _assert_nothing_moved(payment, before)


@pytest.mark.parametrize("credential", [None, {}, "not-an-object", {"id": "no-such-credential"}])
def test_no_assertion_moves_nothing(bank, payment, phone, public_url, credential):
    _refused(bank[1], payment, credential, secrets.token_bytes(32), public_url)


def test_an_assertion_without_user_verification_moves_nothing(bank, payment, phone, public_url):
    """The key was used, but nobody's fingerprint unlocked it: possession without inherence."""
    challenge = secrets.token_bytes(32)
    _refused(bank[1], payment, phone.assertion(challenge, public_url, user_verified=False), challenge, public_url,
             match="[Uu]ser verification")


def test_another_customers_passkey_moves_nothing(bank, payment, public_url):
    stranger = services.create_customer("stranger", "long-enough-pw", "4321", 100000)
    strangers_phone = SoftAuthenticator(stranger)
    challenge = secrets.token_bytes(32)
    _refused(bank[1], payment, strangers_phone.assertion(challenge, public_url), challenge, public_url)


def test_an_assertion_for_another_challenge_or_site_moves_nothing(bank, payment, phone, public_url):
    challenge = secrets.token_bytes(32)
    _refused(bank[1], payment, phone.assertion(secrets.token_bytes(32), public_url), challenge, public_url)
    _refused(bank[1], payment, phone.assertion(challenge, "https://evil.example"), challenge, public_url)
    for missing in (None, b""):  # no challenge issued: nothing to answer
        _refused(bank[1], payment, phone.assertion(challenge, public_url), missing, public_url)


def test_a_tampered_assertion_moves_nothing(bank, payment, phone, public_url):
    challenge = secrets.token_bytes(32)
    credential = phone.assertion(challenge, public_url)
    credential["response"]["signature"] = _b64url(b"\x30\x06\x02\x01\x01\x02\x01\x01")
    _refused(bank[1], payment, credential, challenge, public_url)

"""One customer cannot stop everyone's payment pushes (issue 8, point 4).

An attacker registers push endpoints that hang (a stand-in push service that holds
every message to them), makes the bank push to them (test notifications, and
payments to their own card), and the bank must still deliver another customer's
payment push. Each test runs its own bank with a long push timeout, so a hung send
never ends during the test: without fairness, the victim's push would wait behind
the attacker's for as long as the hang lasts. The assertions are about who was
served while the attacker's messages were held, never about how long anything took.
"""
import uuid

import pytest
import requests

from ..conftest import new_customer
from ..pushservice import LocalPushService
from ..support import BankCustomer, LiveServer, wait_for

TIMEOUT = 15
THREADS, RESERVED, PER_CUSTOMER = 4, 1, 2


@pytest.fixture
def bank(tmp_path):
    server = LiveServer(tmp_path / "instance", PUSH_WORKER_THREADS=THREADS, PUSH_THREADS_RESERVED_FOR_PAYMENTS=RESERVED,
                        PUSH_MAX_IN_FLIGHT_PER_CUSTOMER=PER_CUSTOMER, PUSH_TIMEOUT_SECONDS=120.0).start()
    yield server
    server.stop()


@pytest.fixture
def service():
    service = LocalPushService().start()
    yield service
    service.release_hang.set()
    service.stop()


def _phones(bank, count, service, hanging):
    """One customer with `count` push devices (one bank-app session each); returns (card, phones, subscriptions)."""
    username, password, pin, card = new_customer(bank.app)
    phones, subscriptions = [], []
    for number in range(count):
        phone = BankCustomer(bank.url, username, password, pin)
        subscription = service.subscribe()
        if hanging:
            service.hang_always(subscription)
        phone.register_device(subscription, name=f"Phone {number}")
        phones.append(phone)
        subscriptions.append(subscription)
    return card, phones, subscriptions


def _token(bank):
    response = requests.post(bank.url + "/bank/oauth/token", timeout=TIMEOUT,
                             data={"grant_type": "client_credentials", "scope": "payments"},
                             auth=(bank.app.config["BANK_CLIENT_ID"], bank.app.config["BANK_CLIENT_SECRET"]))
    return response.json()["access_token"]


def _request_payment(bank, token, card):
    response = requests.post(bank.url + "/bank/api/v1/payment-requests", timeout=TIMEOUT, json={
        "amount": 1000, "currency": "ZAR", "card_number": card, "merchant_reference": uuid.uuid4().hex[:12]},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _held(service, subscriptions):
    return sum(service.in_flight.get(s["endpoint"].rsplit("/", 1)[1], 0) for s in subscriptions)


def test_a_customer_with_hanging_endpoints_cannot_hold_up_another_customers_payment_push(bank, service):
    attacker_card, attacker_phones, attacker_subs = _phones(bank, 6, service, hanging=True)
    token = _token(bank)
    for _ in range(3):  # payments to their own card push to all six hanging endpoints: 18 payment pushes
        _request_payment(bank, token, attacker_card)
    for phone in attacker_phones[:2]:
        assert phone.api("POST", "/bank/app/api/devices/test").status_code == 202
    wait_for(lambda: _held(service, attacker_subs) >= 1, message="the attacker's endpoints hold a push")

    victim_card, _, (victim_sub,) = _phones(bank, 1, service, hanging=False)
    payment_id = _request_payment(bank, token, victim_card)
    [message] = wait_for(lambda: service.messages_for(victim_sub), timeout=60, message="the victim's payment push")

    assert message["payload"]["id"] == payment_id
    assert not service.release_hang.is_set()  # delivered while every attacker push was still held
    assert _held(service, attacker_subs) <= PER_CUSTOMER  # the attacker's share of the threads, no more
    assert all(service.most_in_flight.get(s["endpoint"].rsplit("/", 1)[1], 0) <= 1 for s in attacker_subs)


def test_test_notifications_cannot_take_the_thread_kept_for_payment_pushes(bank, service):
    attackers = [_phones(bank, 1, service, hanging=True) for _ in range(THREADS)]
    for _, (phone,), _ in attackers:
        for _ in range(5):
            assert phone.api("POST", "/bank/app/api/devices/test").status_code == 202
    attacker_subs = [sub for _, _, (sub,) in attackers]
    wait_for(lambda: _held(service, attacker_subs) == THREADS - RESERVED, message="test pushes on every free thread")

    victim_card, _, (victim_sub,) = _phones(bank, 1, service, hanging=False)
    payment_id = _request_payment(bank, _token(bank), victim_card)
    [message] = wait_for(lambda: service.messages_for(victim_sub), timeout=60, message="the victim's payment push")

    assert message["payload"]["id"] == payment_id and not service.release_hang.is_set()
    assert _held(service, attacker_subs) == THREADS - RESERVED
    # Five clicks each, yet one test push per device reached the push service.
    assert [service.requests_for(sub) for sub in attacker_subs].count(1) == THREADS - RESERVED


def test_test_notifications_are_rate_limited_per_customer(live, customer_factory, push_service):
    username, password, pin, _ = customer_factory()
    phone = BankCustomer(live.url, username, password, pin)
    phone.register_device(push_service.subscribe())
    original = live.app.config["RATELIMIT_TEST_PUSH"]
    live.app.config["RATELIMIT_TEST_PUSH"] = "3 per minute"
    try:
        answers = [phone.api("POST", "/bank/app/api/devices/test").status_code for _ in range(5)]
        other = BankCustomer(live.url, *customer_factory()[:2])
        other.register_device(push_service.subscribe())
        other_answer = other.api("POST", "/bank/app/api/devices/test").status_code
    finally:
        live.app.config["RATELIMIT_TEST_PUSH"] = original
    assert answers == [202, 202, 202, 429, 429]
    assert other_answer == 202  # counted per customer: one customer's clicks do not lock out another

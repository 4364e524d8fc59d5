"""Side effects follow the commit, from one place: the services record, the dispatcher sends.

No view notifies anybody: whatever path decides a payment (the API, the bank app, the lock,
the expiry loop), its socket message goes out once when the decision commits, and a decision
that is rolled back tells nobody anything.
"""
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.bank import devices, notify, services
from app.bank import cards
from app.bank.models import Customer, Merchant
from app.common import tracing
from app.common.clock import utcnow
from app.extensions import db


class CountingWorker:
    """A worker of this process with no free thread: nothing is leased to it at queue time, it is woken."""

    def __init__(self, running=True):
        self.wakes, self.running = 0, running

    def wake(self):
        self.wakes += 1

    def lease_at_queue(self, event, payment):
        return None


@pytest.fixture
def heard(app):
    """The bank's socket messages as the app sends them (through the tracing signal), and woken workers."""
    messages = []

    def observer(sender, kind, details):
        if kind == "socket" and details.get("namespace") == notify.BANK_NAMESPACE:
            messages.append(details["data"])
    tracing.message_crossed.connect(observer, sender=app)
    workers = {name: CountingWorker() for name in ("bank_webhook_worker", "bank_push_worker")}
    saved = {name: app.extensions.get(name) for name in workers}
    app.extensions.update(workers)
    yield messages, workers
    app.extensions.update(saved)
    tracing.message_crossed.disconnect(observer, sender=app)


@pytest.fixture
def bank(app):
    merchant = db.session.scalar(select(Merchant))
    customer = db.session.scalar(select(Customer).where(Customer.username == "thandi"))
    return merchant, customer


def _request(merchant, customer, key="k-1", ttl=120):
    body = {"amount": 1000, "currency": "ZAR", "card_number": cards.customer_card(customer).number,
            "merchant_reference": f"order-{key}"}
    return services.request_payment(merchant, key, body, ttl, app_url="http://localhost/bank/app")[0]["id"]


def test_a_new_request_is_announced_once_it_commits_and_wakes_the_push_worker(bank, heard):
    merchant, customer = bank
    messages, workers = heard
    request_id = _request(merchant, customer)
    assert [(m["id"], m["status"]) for m in messages] == [(request_id, "pending")]
    assert workers["bank_push_worker"].wakes == 1
    services.request_payment(merchant, "k-1", {"amount": 1000, "currency": "ZAR", "merchant_reference": "order-k-1",
                                               "card_number": cards.customer_card(customer).number}, 120)
    assert len(messages) == 1  # an idempotent replay announces nothing again


def test_the_lock_that_declines_a_payment_is_announced_by_the_service_alone(bank, heard):
    merchant, customer = bank
    messages, workers = heard
    request_id = _request(merchant, customer)
    device, token = devices.register_device(customer, None, pin="1234")
    messages.clear()
    for _ in range(5):
        with pytest.raises((cards.WrongPin, cards.CardLocked)):
            services.approve_payment_request(customer, request_id, "0000", token)
    assert [(m["status"], m["decline_reason"]) for m in messages] == [("declined", "card_blocked")]
    assert workers["bank_webhook_worker"].wakes >= 1  # its webhook is due now


def test_the_expiry_loop_announces_each_expiry(bank, heard):
    merchant, customer = bank
    messages, _ = heard
    request_id = _request(merchant, customer, ttl=1)
    messages.clear()
    services.expire_overdue_payment_requests(now=utcnow() + timedelta(seconds=5))
    assert [(m["id"], m["status"]) for m in messages] == [(request_id, "expired")]


def test_a_rolled_back_change_tells_nobody(bank, heard):
    merchant, customer = bank
    messages, workers = heard
    request_id = _request(merchant, customer)
    messages.clear()
    woken = workers["bank_webhook_worker"].wakes
    payment = services.payment_request_for_customer(customer, request_id)
    payment.status = "declined"
    notify.payment_request_changed(payment)
    db.session.rollback()
    db.session.commit()  # a later, unrelated commit must not send what was rolled back
    assert messages == [] and workers["bank_webhook_worker"].wakes == woken


def test_a_worker_that_runs_in_another_process_is_woken_through_the_process_bus(app, bank, heard, monkeypatch):
    """With `flask bank worker` apart, the web process's commit wakes it over the bus, not at its next tick."""
    _messages, workers = heard
    for worker in workers.values():
        worker.running = False
    published = []
    monkeypatch.setattr(app.extensions["process_bus"], "publish", lambda topic, payload: published.append((topic, payload)))
    merchant, customer = bank
    services.cancel_payment_request(merchant, _request(merchant, customer))
    assert ("wake-bank-worker", "bank_push_worker") in published  # the new request's push
    assert ("wake-bank-worker", "bank_webhook_worker") in published  # the cancel's webhook
    assert all(worker.wakes == 0 for worker in workers.values())

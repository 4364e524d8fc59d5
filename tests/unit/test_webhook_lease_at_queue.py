"""A decision's webhook is leased in the decision's own transaction and sent as it commits.

The laptop turns paid when the merchant hears; before, the decision woke the webhook worker,
whose pass then scanned for due events, leased one and committed again before the POST. Now
the process that decides leases the event with the decision (when its worker runs, has a free
thread and the endpoint has room) and hands it to its worker at the commit. The lease is the
same as any other: committed before the POST, and only taken over once it runs out.
"""
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from app.bank import cards, services
from app.bank.models import Customer, Merchant, PaymentRequest, WebhookEvent, utcnow
from app.bank.outbox import webhooks
from app.bank.outbox.workers import WebhookWorker
from app.extensions import db


class RunningWorker(WebhookWorker):
    """The real worker's leasing, as in a process that runs it; what it is handed is kept, not sent."""

    def __init__(self, app, per_endpoint=2, free=True):
        super().__init__(app)
        self.per_endpoint, self.free, self.handed, self.wakes = per_endpoint, free, [], 0

    @property
    def running(self):
        return True

    def has_free_thread(self):
        return self.free

    def submit(self, claims):
        self.handed.extend(claims)

    def wake(self):
        self.wakes += 1


@pytest.fixture
def worker(app):
    saved = app.extensions["bank_webhook_worker"]
    app.extensions["bank_webhook_worker"] = worker = RunningWorker(app)
    yield worker
    app.extensions["bank_webhook_worker"] = saved
    worker.pool.shutdown(wait=False)


def _payment(key):
    merchant = db.session.scalar(select(Merchant).where(Merchant.name == "Veldt Market"))
    customer = db.session.scalar(select(Customer).where(Customer.username == "thandi"))
    response, _ = services.request_payment(merchant, key, {
        "amount": 100, "currency": "ZAR", "card_number": cards.customer_card(customer).number,
        "merchant_reference": f"o-{key}"}, 120)
    return merchant, response["id"]


def _event_of(payment_id):
    db.session.expire_all()
    return db.session.scalar(select(WebhookEvent).where(WebhookEvent.payment_request_id == payment_id))


def test_the_decision_commits_the_lease_and_hands_the_event_to_the_worker(worker):
    merchant, payment_id = _payment("at-queue")
    assert worker.handed == []  # a new request queues no webhook
    services.cancel_payment_request(merchant, payment_id)
    event = _event_of(payment_id)
    assert event.claimed_by == worker.worker_id and event.claimed_until > utcnow()  # committed with the decision
    [delivery] = worker.handed
    trace_id = db.session.get(PaymentRequest, payment_id).trace_id
    assert delivery == webhooks.WebhookDelivery(event.id, event.url, event.body, merchant.webhook_secret, trace_id)
    assert worker.wakes == 0  # nothing left for its pass
    # Another worker's pass does not take it: the lease is live.
    assert webhooks.claim_due_webhooks("another-process", 8, 60, per_endpoint=8) == []


def test_a_full_endpoint_leaves_the_event_to_the_pass_and_wakes_the_worker(worker):
    merchant, first = _payment("full-1")
    _, second = _payment("full-2")
    _, third = _payment("full-3")
    for payment_id in (first, second, third):
        services.cancel_payment_request(merchant, payment_id)
    assert [d.event_id for d in worker.handed] == [_event_of(first).id, _event_of(second).id]  # its share: 2
    assert _event_of(third).claimed_by is None and worker.wakes == 1


def test_a_busy_worker_leaves_the_event_to_its_pass(worker):
    worker.free = False
    merchant, payment_id = _payment("busy")
    services.cancel_payment_request(merchant, payment_id)
    assert worker.handed == [] and worker.wakes == 1 and _event_of(payment_id).claimed_by is None


def test_a_rolled_back_decision_leases_nothing_and_hands_nothing(worker):
    merchant, payment_id = _payment("rolled-back")
    payment = services.payment_request_for_merchant(merchant, payment_id)
    payment.status = "cancelled"
    services.queue_webhook_event(payment)
    db.session.rollback()
    db.session.commit()  # a later, unrelated commit sends nothing of it
    assert worker.handed == [] and worker.wakes == 0
    assert db.session.scalar(select(WebhookEvent).where(WebhookEvent.payment_request_id == payment_id)) is None


def test_a_leased_delivery_is_posted_signed_and_recorded_under_its_lease(app, worker):
    merchant, payment_id = _payment("posted")
    services.cancel_payment_request(merchant, payment_id)
    [delivery] = worker.handed
    sent = []

    def post(url, data, headers, **kwargs):
        sent.append((url, data, headers))
        return SimpleNamespace(status_code=200)
    assert webhooks.deliver_leased(delivery, SimpleNamespace(post=post), app.config, worker.worker_id) is True
    [(url, data, headers)] = sent
    assert url == delivery.url and data == delivery.body.encode() and headers["Bank-Event-Id"] == delivery.event_id
    event = _event_of(payment_id)
    assert event.delivered_at is not None and event.claimed_by is None and event.attempt_count == 1


def test_a_worker_that_stopped_meanwhile_does_not_undo_the_decision(worker):
    """Leased, committed, then the pool is gone (the process is stopping): the decision stands, and the
    lease runs out for a pass to send it, as after a crash."""
    def refuse(claims):
        raise RuntimeError("cannot schedule new futures after shutdown")
    worker.submit = refuse
    merchant, payment_id = _payment("stopping")
    payment = services.cancel_payment_request(merchant, payment_id)
    assert payment.status == "cancelled"
    assert _event_of(payment_id).claimed_by == worker.worker_id

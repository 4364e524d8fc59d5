"""The push worker's claims: leases that survive a restart, fair choices, a circuit breaker, one test push.

The worker is driven by hand (`claim_due`, then `_send` on this thread) with a
fake sender, so each test decides exactly what the push service answers.
"""
import itertools
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from app.bank import services
from app.bank.outbox import push
from app.bank.models import Device, PushMessage, utcnow
from app.bank.outbox.push import CircuitBreaker, Claim, PushWorker, choose_fairly
from app.extensions import db

from ..pushservice import LocalPushService

_names = itertools.count(1)
_service = LocalPushService()  # only for realistic subscriptions; it is not started


class FakeSender:
    """Answers 201 unless told otherwise per endpoint; remembers every send, and can look at the database."""

    def __init__(self):
        self.sent, self.answers, self.on_send = [], {}, None

    def send(self, subscription_info, payload, ttl, topic, urgency="high"):
        self.sent.append(subscription_info["endpoint"])
        if self.on_send:
            self.on_send(subscription_info)
        return self.answers.get(subscription_info["endpoint"], (201, None, None))


def _customer_with_devices(count):
    customer = services.create_customer(f"pushee{next(_names)}", "correct-horse", "1234", 0)
    devices = []
    for _ in range(count):
        subscription = _service.subscribe()
        device = Device(customer_id=customer.id, endpoint=subscription["endpoint"],
                        p256dh=subscription["keys"]["p256dh"], auth=subscription["keys"]["auth"])
        db.session.add(device)
        devices.append(device)
    db.session.commit()
    return customer, devices


def _message(device, kind="payment_request", **fields):
    now = utcnow()
    message = PushMessage(device_id=device.id, kind=kind, payload='{"type":"test"}', topic="t",
                          expires_at=now + timedelta(seconds=120), next_attempt_at=now, **fields)
    db.session.add(message)
    db.session.commit()
    return message


def _worker(app, sender, **config):
    app.config.update(config)
    return PushWorker(app, sender)


def _drain(worker):
    """Claim and send on this thread until nothing more is claimed."""
    while True:
        claims = worker.claim_due()
        if not claims:
            return
        for claim in claims:
            worker._send(claim)


def _state(message_id):
    db.session.expire_all()
    return db.session.get(PushMessage, message_id).state


# --- point 14: leases, not "reset everything that was sending" ---------------------------------

def test_a_restarted_worker_leaves_a_live_lease_alone_and_sends_an_expired_one_once(app):
    _, (busy_device, lost_device) = _customer_with_devices(2)
    now = utcnow()
    # Both were being sent when the last process died; one lease is still running, one ran out.
    live = _message(busy_device, state="sending", claimed_by="old-process", claimed_until=now + timedelta(seconds=30))
    lost = _message(lost_device, state="sending", claimed_by="old-process", claimed_until=now - timedelta(seconds=1))
    sender = FakeSender()
    worker = _worker(app, sender)

    worker.before_start()  # what a (re)starting worker does first
    _drain(worker)
    _drain(worker)  # and again: a delivered message is never sent twice

    assert sender.sent == [lost_device.endpoint]
    assert _state(lost.id) == "delivered"
    held = db.session.get(PushMessage, live.id)
    assert held.state == "sending" and held.claimed_by == "old-process"


def test_the_lease_is_committed_before_the_push_service_is_called(app):
    _, (device,) = _customer_with_devices(1)
    message = _message(device)
    sender = FakeSender()
    worker = _worker(app, sender)
    seen = {}

    def look_from_another_connection(subscription_info):
        with db.engines["bank"].connect() as other:  # sees only what is committed
            seen["row"] = other.execute(text("SELECT state, claimed_by, claimed_until FROM push_messages "
                                             "WHERE id = :id"), {"id": message.id}).one()
    sender.on_send = look_from_another_connection
    _drain(worker)

    state, claimed_by, claimed_until = seen["row"]
    assert state == "sending" and claimed_by == worker.worker_id and claimed_until is not None
    assert _state(message.id) == "delivered"
    assert db.session.get(PushMessage, message.id).claimed_until is None  # the lease ends with the attempt


def test_two_workers_never_claim_the_same_message(app):
    _, devices = _customer_with_devices(2)
    for device in devices:
        _message(device)
    first, second = _worker(app, FakeSender()), _worker(app, FakeSender())
    claimed = [c.message_id for c in first.claim_due()] + [c.message_id for c in second.claim_due()]
    assert len(claimed) == len(set(claimed)) == 2


# --- point 4: fairness --------------------------------------------------------------------------

def test_payment_pushes_are_claimed_before_test_pushes_even_when_younger(app):
    _, devices = _customer_with_devices(3)
    tests = [_message(device, kind="test") for device in devices[:2]]
    payment = _message(devices[2])
    worker = _worker(app, FakeSender(), PUSH_WORKER_THREADS=3, PUSH_THREADS_RESERVED_FOR_PAYMENTS=1,
                     PUSH_MAX_IN_FLIGHT_PER_CUSTOMER=5)
    claims = worker.claim_due()
    assert [c.message_id for c in claims] == [payment.id, tests[0].id]
    assert _state(tests[1].id) == "queued"


def test_test_pushes_never_take_the_threads_kept_for_payments(app):
    devices = [device for _ in range(4) for device in _customer_with_devices(1)[1]]
    for device in devices:
        _message(device, kind="test")
    worker = _worker(app, FakeSender(), PUSH_WORKER_THREADS=4, PUSH_THREADS_RESERVED_FOR_PAYMENTS=1)
    assert len(worker.claim_due()) == 3  # one of four threads stays free for a payment push
    _, (victim_device,) = _customer_with_devices(1)
    payment = _message(victim_device)
    assert [c.message_id for c in worker.claim_due()] == [payment.id]


def test_one_device_gets_one_push_at_a_time_and_a_customer_only_a_few(app):
    _, devices = _customer_with_devices(4)
    for device in devices:
        _message(device)
        _message(device)
    worker = _worker(app, FakeSender(), PUSH_WORKER_THREADS=4, PUSH_MAX_IN_FLIGHT_PER_CUSTOMER=2)
    claims = worker.claim_due()
    assert len(claims) == 2 and len({c.device_id for c in claims}) == 2
    assert worker.claim_due() == []  # the customer's share is in flight; the threads wait for others


def test_choose_fairly_spares_other_customers_from_a_greedy_one():
    greedy = [Claim(i, "payment_request", 100 + i, "greedy", f"https://fcm.googleapis.com/fcm/send/{i}")
              for i in range(10)]
    victim = Claim(99, "payment_request", 999, "victim", "https://fcm.googleapis.com/fcm/send/victim")
    chosen = choose_fairly([*greedy, victim], in_flight=[], free_threads=4, reserved_for_payments=1, per_customer=2)
    assert [c.message_id for c in chosen] == [0, 1, 99]


def test_the_circuit_breaker_rests_an_endpoint_that_keeps_failing_then_tries_it_once():
    clock = [1000.0]
    breaker = CircuitBreaker(threshold=3, rest_seconds=60, clock=lambda: clock[0])
    endpoint = "https://fcm.googleapis.com/fcm/send/slow"
    for _ in range(2):
        breaker.record(endpoint, failed=True)
    assert breaker.resting() == set()
    breaker.record(endpoint, failed=True)
    assert breaker.resting() == {endpoint}
    clock[0] += 61
    assert breaker.resting() == set()  # one try may go
    breaker.record(endpoint, failed=True)
    assert breaker.resting() == {endpoint}  # it failed again: rest again at once
    clock[0] += 61
    breaker.record(endpoint, failed=False)
    breaker.record(endpoint, failed=True)
    assert breaker.resting() == set()  # a success closed it: counting starts afresh


def test_a_failing_endpoint_stops_being_called_while_others_go_on(app):
    _, (bad, good) = _customer_with_devices(2)
    sender = FakeSender()
    sender.answers[bad.endpoint] = (None, None, "timed out")
    worker = _worker(app, sender, PUSH_CIRCUIT_FAILURES=3, PUSH_CIRCUIT_OPEN_SECONDS=600, PUSH_MAX_ATTEMPTS=10)
    for _ in range(5):
        message = _message(bad)
        _drain(worker)
        assert _state(message.id) == "queued"  # the no-answer is retried later
        db.session.execute(PushMessage.__table__.update().where(PushMessage.__table__.c.state == "queued")
                           .values(next_attempt_at=utcnow() - timedelta(seconds=1)))  # every retry is due now
        db.session.commit()
    _drain(worker)
    assert sender.sent.count(bad.endpoint) == 3  # then it rests: due messages wait, no thread is spent on it
    healthy = _message(good)
    _drain(worker)
    assert _state(healthy.id) == "delivered"


def test_a_gone_subscription_prunes_the_device_cleanly_and_is_no_failure(app, caplog):
    _, (device,) = _customer_with_devices(1)
    endpoint = device.endpoint
    _message(device)
    sender = FakeSender()
    sender.answers[endpoint] = (410, None, "HTTP 410")
    worker = _worker(app, sender, PUSH_CIRCUIT_FAILURES=1)
    _drain(worker)
    db.session.expire_all()
    assert db.session.scalars(select(Device).where(Device.endpoint == endpoint)).all() == []
    assert "push delivery failed" not in caplog.text
    assert worker.breaker.resting() == set()  # 410 is an answer, not a hang: nothing to rest


def test_a_hundred_test_clicks_queue_one_test_push_per_device(app):
    customer, devices = _customer_with_devices(2)
    for _ in range(100):
        assert push.queue_test_push(customer, "http://localhost/bank/app") == 2
    queued = db.session.scalars(select(PushMessage.device_id).where(PushMessage.kind == "test")).all()
    assert sorted(queued) == sorted(device.id for device in devices)


def test_a_device_registered_before_the_allow_list_is_never_called(app):
    _, (device,) = _customer_with_devices(1)
    device.endpoint = "http://169.254.169.254/latest/meta-data/"
    db.session.commit()
    message = _message(device)
    sender = FakeSender()
    _drain(_worker(app, sender, PUSH_SERVICE_HOSTS="fcm.googleapis.com"))
    assert sender.sent == [] and _state(message.id) == "failed"


@pytest.fixture(autouse=True)
def _no_running_worker(app):
    """The app's own push worker is never started in these tests (BACKGROUND_WORKERS is off)."""
    assert not app.config["BACKGROUND_WORKERS"]


# --- review: no transaction across the send, and a lease lost mid-send is not overwritten ------------

def test_no_transaction_is_open_while_the_push_service_answers(app):
    _, [device] = _customer_with_devices(1)
    message = _message(device)
    sender, seen = FakeSender(), []
    sender.on_send = lambda subscription: seen.append(db.session().in_transaction())
    _drain(_worker(app, sender))
    assert seen == [False]
    assert _state(message.id) == "delivered"


def test_a_worker_whose_lease_was_taken_over_mid_send_leaves_it_alone(app):
    from sqlalchemy import text
    _, [device] = _customer_with_devices(1)
    message = _message(device)
    sender = FakeSender()

    def another_worker_takes_over(subscription):  # our lease ran out and another worker claimed it
        with db.engines["bank"].begin() as other:
            other.execute(text("UPDATE push_messages SET claimed_by = 'other' WHERE id = :id"), {"id": message.id})
    sender.on_send = another_worker_takes_over
    _drain(_worker(app, sender))
    db.session.expire_all()
    row = db.session.get(PushMessage, message.id)
    assert (row.state, row.claimed_by, row.attempt_count) == ("sending", "other", 1)


def test_an_error_of_our_own_requeues_the_push_instead_of_failing_it(app, monkeypatch):
    from app.bank.outbox import push as push_module
    _, [device] = _customer_with_devices(1)
    message = _message(device)
    worker = _worker(app, FakeSender())
    monkeypatch.setattr(push_module, "deliver_push", lambda *a, **k: 1 / 0)
    _drain(worker)
    db.session.expire_all()
    row = db.session.get(PushMessage, message.id)
    assert (row.state, row.claimed_by) == ("queued", None) and row.next_attempt_at > utcnow()

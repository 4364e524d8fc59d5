"""Web Push from the bank to its customers' phones (pywebpush, VAPID, RFC 8030).

Messages go through an outbox table and a worker with a small thread pool, so
"Pay now" never waits for a push service, and a restart loses nothing. 404/410
mean the subscription is gone (the device is deleted); 429 and 5xx are retried,
honouring Retry-After.

The outbox is shared by every customer, so one customer must not be able to hold
up another's payment push (by clicking "test" a hundred times, or by registering
endpoints that hang). The worker therefore:
- claims only what its free threads can send now, payment pushes first; test
  pushes never take the threads kept for payments;
- sends one message per device at a time, and a few per customer at most;
- rests a device whose endpoint keeps failing (a circuit breaker);
- connects with a short timeout;
- leases each claim (`claimed_by`, `claimed_until`), committed before the
  network call, so a restarted worker sends again only what it can tell was lost:
  a message whose lease has expired.
Nothing the push service answers is stored but its status code and a classified
reason (see `outbound`): a customer's diagnostics never become a window into
what some address said back.
"""
import json
import logging
import threading
import time
from collections import Counter, namedtuple
from datetime import timedelta

import requests
from pywebpush import WebPushException, webpush
from sqlalchemy import and_, case, or_, select, update

from ...common import tracing
from ...common.clock import isoformat, utcnow
from ...common.http import traced_session
from ...common.money import format_money
from ...extensions import db
from ..models import Device, PushAttempt, PushMessage
from ..outbound import DEFAULT_PUSH_SERVICE_HOSTS, describe_failure, describe_status, push_endpoint_allowed
from . import leases
from .pool import OutboxWorker

log = logging.getLogger(__name__)
MAX_PAYLOAD_BYTES = 3072
TEST_MESSAGE_TTL_SECONDS = 300
PAYMENT_KIND = "payment_request"
# A push reaches only the browser that subscribed: the subscription is something the phone has.
PUSH_SEND_STEP = tracing.Step("push_send", ("possession:push_subscription",))


class PayloadTooLarge(ValueError):
    pass


def topic_for(payment_id):
    """Topic header: at most 32 URL-safe characters; a newer message with it replaces an undelivered one."""
    return payment_id.replace("pr_", "pay-")[:32]


def payment_payload(payment, app_url):
    payload = {
        "type": "payment_request", "id": payment.id,
        "title": f"Approve {format_money(payment.amount)} at {payment.merchant.name}?",
        "body": f"Code {payment.binding_code} · {payment.merchant.name} · {format_money(payment.amount)}",
        "amount": payment.amount, "currency": payment.currency, "merchant": payment.merchant.name,
        "binding_code": payment.binding_code, "expires_at": isoformat(payment.expires_at),
        "url": f"{app_url}/approvals/{payment.id}", "journey": payment.trace_id,
    }
    return _checked(payload)


def test_payload(app_url, now):
    return _checked({"type": "test", "id": f"test-{int(now.timestamp())}", "title": "Baobab Bank",
                     "body": "Test notification: push works on this device.", "url": f"{app_url}/devices"})


def _checked(payload):
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"push payload is {len(text.encode())} bytes")
    return text


def queue_payment_push(payment, app_url):
    """One message per registered device of the card holder, added in the caller's transaction
    (`services.request_payment` commits them with the request itself); returns how many."""
    devices = db.session.scalars(select(Device).where(Device.customer_id == payment.customer_id,
                                                      Device.endpoint.isnot(None))).all()
    payload = payment_payload(payment, app_url)
    for device in devices:
        db.session.add(PushMessage(device_id=device.id, payment_request_id=payment.id, kind=PAYMENT_KIND,
                                   payload=payload, topic=topic_for(payment.id), expires_at=payment.expires_at))
    return len(devices)


def queue_test_push(customer, app_url, device_id=None):
    """A test notification to each of the customer's push devices. Commits; returns how many devices get one.

    At most one test push per device waits in the outbox: a device that already has
    one gets no second, so clicking "test" a hundred times queues nothing more.
    """
    now = utcnow()
    query = select(Device).where(Device.customer_id == customer.id, Device.endpoint.isnot(None))
    if device_id is not None:
        query = query.where(Device.id == device_id)
    devices = db.session.scalars(query).all()
    waiting = set(db.session.scalars(select(PushMessage.device_id).where(
        PushMessage.device_id.in_([device.id for device in devices]), PushMessage.kind == "test",
        PushMessage.state.in_(("queued", "sending")))).all()) if devices else set()
    for device in devices:
        if device.id not in waiting:
            db.session.add(PushMessage(device_id=device.id, kind="test", payload=test_payload(app_url, now),
                                       topic=f"test-{device.id}",
                                       expires_at=now + timedelta(seconds=TEST_MESSAGE_TTL_SECONDS)))
    db.session.commit()
    return len(devices)


class PushSender:
    """Signs and sends one message. One reused HTTP session; a fresh claims dict per call,
    because pywebpush writes `aud` and `exp` into the dict it is given."""

    def __init__(self, vapid, subject, settings, timeout, connect_timeout=None):
        self.vapid, self.subject = vapid, subject
        # A short connect timeout (HTTP_CONNECT_TIMEOUT unless given): an address that does not
        # even accept the connection must not hold a sending thread for the whole read timeout.
        connect = settings.timeout[0] if connect_timeout is None else connect_timeout
        self.timeout = (min(connect, timeout), timeout)
        self.session = traced_session(settings)
        self.session.max_redirects = 0  # a push service answers; it never sends the bank elsewhere

    def send(self, subscription_info, payload, ttl, topic, urgency="high"):
        """Returns (status_code or None, retry_after seconds or None, error or None).

        The error is a status code ("HTTP 503") or a classified reason ("timed out"),
        never the answer's body."""
        claims = {"sub": self.subject}
        try:  # the walkthrough shows what was encrypted; the push service only ever sees ciphertext
            with tracing.notes(push_plaintext=payload):
                response = webpush(subscription_info, data=payload, vapid_private_key=self.vapid,
                                   vapid_claims=claims, ttl=ttl, timeout=self.timeout,
                                   headers={"Urgency": urgency, "Topic": topic}, requests_session=self.session)
        except WebPushException as exc:
            response = exc.response
            if response is None:
                return None, None, "not sent: the subscription could not be used"
        except requests.RequestException as exc:
            return None, None, describe_failure(exc)
        retry_after = _retry_after(response.headers.get("Retry-After"))
        error = None if response.status_code in (200, 201, 202) else describe_status(response.status_code)
        return response.status_code, retry_after, error


def _retry_after(value):
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None


INTERNAL_RETRY_SECONDS = 30  # after a failure of our own (a database error), not the push service's

# `sent`: the push service was called (an expired or refused message was not: it says nothing of the endpoint).
PushOutcome = namedtuple("PushOutcome", "state status_code sent")


def deliver_push(message_id, sender, max_attempts, claimed_by=None, push_service_hosts=DEFAULT_PUSH_SERVICE_HOSTS,
                 now=None):
    """One attempt at one message this worker holds the lease of: send, record, decide what next. Commits.

    Returns a `PushOutcome`, or None when the message is not (or no longer) ours to send.
    """
    message = db.session.get(PushMessage, message_id)
    if message is None or message.state != "sending" or message.claimed_by != claimed_by:
        return None
    now = now or utcnow()
    trace_id = json.loads(message.payload).get("journey")
    with tracing.trace(trace_id):
        return _attempt(message, message.device, sender, max_attempts, push_service_hosts, now)


def _attempt(message, device, sender, max_attempts, push_service_hosts, now):
    ttl = int((message.expires_at - now).total_seconds())
    if ttl <= 0:
        _settle(message.id, message.claimed_by, state="expired")
        return PushOutcome("expired", None, False)
    if not push_endpoint_allowed(device.endpoint, push_service_hosts):
        # Registered before the allow-list (or the list changed): never call it.
        device.last_status = "not sent: not a push service"
        _settle(message.id, message.claimed_by, state="failed")
        return PushOutcome("failed", None, False)
    message_id, claimed_by, device_id = message.id, message.claimed_by, device.id
    attempts, expires_at = message.attempt_count + 1, message.expires_at
    subscription, payload, topic = device.subscription_info(), message.payload, message.topic
    db.session.rollback()  # end the read: no transaction stays open while the push service answers
    started = time.monotonic()
    status, retry_after, error = sender.send(subscription, payload, ttl, topic)
    now = utcnow()
    db.session.add(PushAttempt(device_id=device_id, message_id=message_id, attempted_at=now, status_code=status,
                               error=error, duration_ms=int((time.monotonic() - started) * 1000)))
    device = db.session.get(Device, device_id)
    if device is not None:
        device.last_attempt_at = now
        device.last_status = f"{status} {'ok' if error is None else 'failed'}" if status else f"no answer ({error})"
    outcome = {}
    if error is None:
        state = "delivered"
        if device is not None:
            device.last_success_at = now
    elif status in (404, 410):
        state = "gone"
        if device is not None:
            db.session.delete(device)  # the subscription no longer exists: stop pushing to it
    elif (status is None or status == 429 or status >= 500) and attempts < max_attempts:
        delay = retry_after if retry_after is not None else 2 ** attempts
        next_attempt_at = now + timedelta(seconds=delay)
        state = "expired" if next_attempt_at >= expires_at else "queued"
        outcome["next_attempt_at"] = next_attempt_at
    else:
        state = "failed"
    if state == "gone":  # the device took its messages with it
        db.session.commit()
    else:
        _settle(message_id, claimed_by, sent=True, state=state, **outcome)
    return PushOutcome(state, status, True)


def _settle(message_id, claimed_by, sent=False, **outcome):
    """Write what comes next for a message, ending our lease, only if the lease is still ours: a worker
    whose lease ran out mid-send never overwrites the one that took the message over. A send is
    counted in SQL either way. Commits (with whatever else this attempt recorded)."""
    this_message = PushMessage.id == message_id
    if sent:
        db.session.execute(update(PushMessage).where(this_message)
                           .values(attempt_count=PushMessage.attempt_count + 1)
                           .execution_options(synchronize_session=False))
    db.session.execute(update(PushMessage).where(this_message, PushMessage.claimed_by == claimed_by)
                       .values(claimed_by=None, claimed_until=None, **outcome)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def failed_to_answer(outcome):
    """Does this attempt count against the endpoint's circuit: no answer, 429 or 5xx?"""
    return outcome.status_code is None or outcome.status_code == 429 or outcome.status_code >= 500


class CircuitBreaker:
    """Rests an endpoint that keeps failing, so it cannot keep a sending thread busy.

    After `threshold` failures in a row (no answer, 429 or 5xx), nothing is sent to
    the endpoint for `rest_seconds`; its messages wait in the outbox (and expire if
    they must). Then a single try decides: a success closes the circuit, a failure
    rests it again. In memory: a restart gives every endpoint a fresh chance.
    """

    def __init__(self, threshold, rest_seconds, clock=time.monotonic):
        self.threshold, self.rest_seconds, self.clock = max(1, threshold), rest_seconds, clock
        self._failures = {}
        self._resting_until = {}
        self._lock = threading.Lock()

    def record(self, endpoint, failed):
        with self._lock:
            if not failed:
                self._failures.pop(endpoint, None)
                self._resting_until.pop(endpoint, None)
                return
            self._failures[endpoint] = self._failures.get(endpoint, 0) + 1
            if self._failures[endpoint] >= self.threshold:
                self._resting_until[endpoint] = self.clock() + self.rest_seconds

    def resting(self):
        """The endpoints not to send to now."""
        now = self.clock()
        with self._lock:
            return {endpoint for endpoint, until in self._resting_until.items() if until > now}


Claim = namedtuple("Claim", "message_id kind device_id customer_id endpoint")


def choose_fairly(candidates, in_flight, free_threads, reserved_for_payments, per_customer):
    """Pick, from due messages in priority order, what the free threads send next.

    `in_flight` are the claims being sent now (by any worker). One message per
    device at a time; at most `per_customer` per customer; a test push never takes
    one of the last `reserved_for_payments` free threads, so a payment push always
    finds one.
    """
    busy_devices = {claim.device_id for claim in in_flight}
    per_customer_count = Counter(claim.customer_id for claim in in_flight)
    chosen = []
    for candidate in candidates:
        free = free_threads - len(chosen)
        if free <= 0:
            break
        if candidate.device_id in busy_devices or per_customer_count[candidate.customer_id] >= per_customer:
            continue
        if candidate.kind != PAYMENT_KIND and free - 1 < reserved_for_payments:
            continue
        chosen.append(candidate)
        busy_devices.add(candidate.device_id)
        per_customer_count[candidate.customer_id] += 1
    return chosen


def _claimable(now):
    """Queued and due, or 'sending' under a lease that ran out (its worker died mid-send)."""
    return or_(and_(PushMessage.state == "queued", PushMessage.next_attempt_at <= now),
               and_(PushMessage.state == "sending", leases.lease_free(PushMessage, now)))


_CLAIM_COLUMNS = (PushMessage.id, PushMessage.kind, PushMessage.device_id, Device.customer_id, Device.endpoint)


def _leased(now):
    return and_(PushMessage.state == "sending", leases.lease_live(PushMessage, now))


def live_claims(now):
    """Every message being sent under a live lease, by any worker."""
    rows = db.session.execute(select(*_CLAIM_COLUMNS).join(Device, Device.id == PushMessage.device_id)
                              .where(_leased(now))).all()
    return [Claim(*row) for row in rows]


def due_candidates(now, skip_endpoints=(), limit=200):
    """Messages ready to be claimed, payment pushes first, then the longest waiting."""
    busy_devices = select(PushMessage.device_id).where(_leased(now))
    query = (select(*_CLAIM_COLUMNS).join(Device, Device.id == PushMessage.device_id)
             .where(_claimable(now), PushMessage.device_id.not_in(busy_devices))
             .order_by(case((PushMessage.kind == PAYMENT_KIND, 0), else_=1), PushMessage.next_attempt_at,
                       PushMessage.id)
             .limit(limit)
             .with_for_update(skip_locked=True, of=PushMessage))  # PostgreSQL: rows another worker is claiming
    if skip_endpoints:
        query = query.where(Device.endpoint.not_in(sorted(skip_endpoints)))
    return [Claim(*row) for row in db.session.execute(query).all()]


def expire_stale_messages(now):
    """Queued messages past their expiry will never be sent: say so (they may wait on a resting device).

    Looks before it writes: most passes find nothing, and need no write lock."""
    stale = (PushMessage.state == "queued", PushMessage.expires_at <= now)
    if db.session.scalar(select(PushMessage.id).where(*stale).limit(1)) is not None:
        db.session.execute(update(PushMessage).where(*stale).values(state="expired")
                           .execution_options(synchronize_session=False))


class PushWorker(OutboxWorker):
    """Claims due messages, fairly, and sends them on a small thread pool, off every request path."""

    interval_setting = "BANK_WORKER_INTERVAL_SECONDS"
    name = "push-worker"
    claim_key = "message_id"

    def __init__(self, app, sender):
        config = app.config
        super().__init__(app, config["PUSH_WORKER_THREADS"])
        self.sender = sender
        self.max_attempts = config["PUSH_MAX_ATTEMPTS"]
        self.reserved_for_payments = min(max(0, config["PUSH_THREADS_RESERVED_FOR_PAYMENTS"]), self.threads - 1)
        self.per_customer = max(1, config["PUSH_MAX_IN_FLIGHT_PER_CUSTOMER"])
        self.lease = timedelta(seconds=config["PUSH_LEASE_SECONDS"])
        self.push_service_hosts = config["PUSH_SERVICE_HOSTS"]
        self.breaker = CircuitBreaker(config["PUSH_CIRCUIT_FAILURES"], config["PUSH_CIRCUIT_OPEN_SECONDS"])

    def lease_due(self, free_threads, sending, now):
        """Choose fairly among the due messages (payments first, one send per device, a few per customer,
        none to a resting endpoint) and lease them.

        Each lease is a conditional update, so of two workers only one gets a message;
        only an expired lease is taken over (a message this worker sends holds a live lease).
        """
        now = now or utcnow()
        expire_stale_messages(now)
        chosen = choose_fairly(due_candidates(now, skip_endpoints=self.breaker.resting()), live_claims(now),
                               free_threads, self.reserved_for_payments, self.per_customer)
        got = set(leases.claim_rows(PushMessage, [claim.message_id for claim in chosen], _claimable(now),
                                    self.worker_id, now + self.lease, state="sending"))
        db.session.commit()
        return [claim for claim in chosen if claim.message_id in got]

    def send(self, claim):
        try:
            outcome = deliver_push(claim.message_id, self.sender, self.max_attempts, self.worker_id,
                                   self.push_service_hosts)
        except Exception:  # our own failure, not the endpoint's: try again a little later
            log.exception("push delivery failed")
            db.session.rollback()
            _settle(claim.message_id, self.worker_id, state="queued",
                    next_attempt_at=utcnow() + timedelta(seconds=INTERNAL_RETRY_SECONDS))
        else:
            if outcome is not None and outcome.sent:
                self.breaker.record(claim.endpoint, failed=failed_to_answer(outcome))

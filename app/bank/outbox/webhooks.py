"""Webhooks: the endpoints a merchant registered, and delivering the outbox to them.

Endpoints are registered by the bank's operator (`flask bank add-webhook-endpoint`),
never by a payment request: a merchant API call can pick one of its merchant's
endpoints, but cannot make the bank call any other address.

Delivery claims due events under a lease (see `outbox`: committed before any
POST, at most WEBHOOK_IN_FLIGHT_PER_ENDPOINT events in flight per merchant endpoint
across every process). A new event is usually leased in the very transaction that
queues it, to the worker of the process that decided (`lease_at_queue`), and handed to
that worker as it commits: the laptop turns paid without a claim query in between. Each
event is signed
event, POSTs it, records the attempt (the status code or a classified reason, never
the answer's body) and backs off on failure. The outbox is a table, so a restart
loses nothing: whatever was not acknowledged is due again once its lease runs out.
Delivery is at least once: a process killed between a merchant's 2xx and recording it
leaves the event due, and it is sent again (with the same Bank-Event-Id, by which the
shop drops the repeat).
"""
import time
from collections import namedtuple
from datetime import timedelta

import requests
from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import aliased

from ...common.security import sign_webhook
from ...extensions import db
from ...common import tracing
from ..models import PaymentRequest, WebhookAttempt, WebhookEvent, utcnow
from ..outbound import describe_failure, describe_status
from . import leases


def retry_delay(attempt_count, base_seconds):
    """Seconds to wait after the n-th failed attempt: base, 2*base, 4*base, ..."""
    return base_seconds * 2 ** (attempt_count - 1)


WebhookClaim = namedtuple("WebhookClaim", "event_id merchant_id url")
# What a leased event's POST needs, read while its transaction was open: nothing is loaded to send it.
WebhookDelivery = namedtuple("WebhookDelivery", "event_id url body secret trace_id")


def _claimable(now):
    """Undelivered, not given up, due, and held by no live lease."""
    return and_(WebhookEvent.delivered_at.is_(None), WebhookEvent.abandoned_at.is_(None),
                WebhookEvent.next_attempt_at <= now, leases.lease_free(WebhookEvent, now))


def _endpoint_has_room(now, per_endpoint):
    """Fewer than `per_endpoint` other events to the same merchant endpoint are being sent, by any worker.

    More than one at a time: a classroom's payments all go to one shop, and one POST at a time made
    that endpoint the queue (each waits for the one before). Not unbounded: a merchant that never
    answers holds at most this many threads until their timeout, and the rest of the pool (see
    WEBHOOK_WORKER_THREADS) goes on delivering to the others.
    """
    other = aliased(WebhookEvent)
    in_flight = (select(func.count()).where(other.merchant_id == WebhookEvent.merchant_id,
                                            other.url == WebhookEvent.url, other.id != WebhookEvent.id,
                                            leases.lease_live(other, now))
                 .correlate(WebhookEvent).scalar_subquery())
    return in_flight < per_endpoint


def in_flight_per_endpoint(now):
    """{(merchant id, url): events being sent there now, by any worker}."""
    return {(merchant_id, url): count for merchant_id, url, count in db.session.execute(
        select(WebhookEvent.merchant_id, WebhookEvent.url, func.count())
        .where(leases.lease_live(WebhookEvent, now)).group_by(WebhookEvent.merchant_id, WebhookEvent.url)).all()}


def due_candidates(now, limit=200):
    """Events ready to be claimed, the longest waiting first."""
    query = (select(WebhookEvent.id, WebhookEvent.merchant_id, WebhookEvent.url).where(_claimable(now))
             .order_by(WebhookEvent.next_attempt_at, WebhookEvent.id).limit(limit)
             .with_for_update(skip_locked=True))  # PostgreSQL: rows another worker is claiming
    return [WebhookClaim(*row) for row in db.session.execute(query).all()]


def claim_due_webhooks(worker_id, free_threads, lease_seconds, now=None, sending=(), per_endpoint=1):
    """Lease up to `free_threads` due events, at most `per_endpoint` in flight per endpoint; commits before
    any POST. Returns the claims.

    `sending` are the events this worker is still sending: a send that outlived its lease is never
    started a second time by the same worker (another process may take it over, as leases allow).
    """
    now = now or utcnow()
    in_flight = in_flight_per_endpoint(now)
    chosen = []
    for candidate in due_candidates(now):
        endpoint = (candidate.merchant_id, candidate.url)
        if len(chosen) >= free_threads:
            break
        if in_flight.get(endpoint, 0) < per_endpoint and candidate.event_id not in sending:
            chosen.append(candidate)
            in_flight[endpoint] = in_flight.get(endpoint, 0) + 1
    got = set(leases.claim_rows(WebhookEvent, [claim.event_id for claim in chosen],
                                and_(_claimable(now), _endpoint_has_room(now, per_endpoint)), worker_id,
                                now + timedelta(seconds=lease_seconds)))
    db.session.commit()
    return [claim for claim in chosen if claim.event_id in got]


def lease_at_queue(event, payment, worker_id, lease_seconds, per_endpoint, now=None):
    """Lease a new `event` (of `payment`) to `worker_id` in the transaction that queues it, if its endpoint
    has room; returns its WebhookDelivery, or None (then a worker's pass claims it like any other).

    The lease is committed with the decision itself, so no other process can take the event, and the
    deciding process can POST it the moment the decision commits: no wake-up, no claim query, no second
    commit before the merchant hears. If that process dies first, the lease runs out and another
    process delivers it, as with any lease. The endpoint's share (`per_endpoint`) counts as in the
    worker's pass; on SQLite this transaction already holds the write lock, so the count is exact.
    """
    now = now or utcnow()
    with db.session.no_autoflush:  # the event is not in the count, and is inserted once, leased
        in_flight = db.session.scalar(select(func.count()).select_from(WebhookEvent).where(
            WebhookEvent.merchant_id == event.merchant_id, WebhookEvent.url == event.url,
            leases.lease_live(WebhookEvent, now)))
    if in_flight >= per_endpoint:
        return None
    event.claimed_by, event.claimed_until = worker_id, now + timedelta(seconds=lease_seconds)
    return WebhookDelivery(event.id, event.url, event.body, payment.merchant.webhook_secret, payment.trace_id)


def deliver_claimed(event_id, http, config, claimed_by):
    """Deliver one event this worker leased; returns whether it was acknowledged (None: not ours any more)."""
    event = db.session.get(WebhookEvent, event_id)
    if event is None or event.claimed_by != claimed_by:
        db.session.rollback()
        return None
    return deliver_event(event, http, timeout=config["WEBHOOK_TIMEOUT_SECONDS"],
                         retry_base=config["WEBHOOK_RETRY_BASE_SECONDS"],
                         max_attempts=config["WEBHOOK_MAX_ATTEMPTS"], claimed_by=claimed_by)


def deliver_leased(delivery, http, config, claimed_by):
    """Deliver an event leased at queue time (`lease_at_queue`); returns whether it was acknowledged."""
    return deliver(delivery, http, timeout=config["WEBHOOK_TIMEOUT_SECONDS"],
                   retry_base=config["WEBHOOK_RETRY_BASE_SECONDS"], max_attempts=config["WEBHOOK_MAX_ATTEMPTS"],
                   claimed_by=claimed_by)


def deliver_event(event, http, *, timeout, retry_base, max_attempts, now=None, claimed_by=None):
    """One delivery attempt of one event; records it and schedules the next. Commits.

    `claimed_by` is the lease this attempt runs under (None: an event nobody leased).
    """
    payment = db.session.get(PaymentRequest, event.payment_request_id)
    delivery = WebhookDelivery(event.id, event.url, event.body, event.merchant.webhook_secret,
                               payment.trace_id if payment else None)
    db.session.commit()  # end the read: no transaction stays open across the POST
    return deliver(delivery, http, timeout=timeout, retry_base=retry_base, max_attempts=max_attempts, now=now,
                   claimed_by=claimed_by)


def deliver(delivery, http, *, timeout, retry_base, max_attempts, now=None, claimed_by=None):
    """POST one delivery, then record the attempt and schedule the next. Commits."""
    with tracing.trace(delivery.trace_id):  # the shop continues the merchant's journey
        return _deliver(delivery.event_id, delivery.url, delivery.body.encode(), delivery.secret, http, timeout,
                        retry_base, max_attempts, now, claimed_by)


def _deliver(event_id, url, body, secret, http, timeout, retry_base, max_attempts, now, claimed_by):
    headers = {"Content-Type": "application/json", "Bank-Signature": sign_webhook(secret, body),
               "Bank-Event-Id": event_id}
    started = time.monotonic()
    status_code = error = None
    try:
        # A redirect is not followed: it would send the signed event to an address nobody registered.
        response = http.post(url, data=body, headers=headers, timeout=(min(3.0, timeout), timeout),
                             allow_redirects=False)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = describe_status(status_code)  # never the body: it is the remote's to say, not ours to show
    except requests.RequestException as exc:
        error = describe_failure(exc)
    now = now or utcnow()
    _record_attempt(event_id, now, status_code, error, int((time.monotonic() - started) * 1000), retry_base,
                    max_attempts, claimed_by)
    return error is None


def _record_attempt(event_id, now, status_code, error, duration_ms, retry_base, max_attempts, claimed_by):
    """Record the attempt, count it in SQL, and decide what next, ending our lease. Commits."""
    db.session.add(WebhookAttempt(event_id=event_id, attempted_at=now, status_code=status_code, error=error,
                                  duration_ms=duration_ms))
    this_event = WebhookEvent.id == event_id
    db.session.execute(update(WebhookEvent).where(this_event).values(attempt_count=WebhookEvent.attempt_count + 1)
                       .execution_options(synchronize_session=False))
    attempt_count = db.session.scalar(select(WebhookEvent.attempt_count).where(this_event))  # our write, locked
    ours = WebhookEvent.claimed_by.is_(None) if claimed_by is None else WebhookEvent.claimed_by == claimed_by
    if error is None:
        outcome = {"delivered_at": now}
    elif attempt_count >= max_attempts:
        outcome = {"abandoned_at": now}
    else:
        outcome = {"next_attempt_at": now + timedelta(seconds=retry_delay(attempt_count, retry_base))}
    result = db.session.execute(update(WebhookEvent).where(this_event, ours)
                                .values(claimed_by=None, claimed_until=None, **outcome)
                                .execution_options(synchronize_session=False))
    if result.rowcount == 0 and error is None:  # our lease ran out mid-send, yet the merchant has it
        db.session.execute(update(WebhookEvent).where(this_event, WebhookEvent.delivered_at.is_(None))
                           .values(delivered_at=now).execution_options(synchronize_session=False))
    db.session.commit()


def record_failed_attempt(event_id, config, claimed_by):
    """An attempt that failed on our side before any answer (a secret that would not decrypt, a
    database error): it counts like any failure, so the event backs off and is finally abandoned
    instead of holding its merchant's endpoint forever. Commits."""
    _record_attempt(event_id, utcnow(), None, "not sent: the bank could not prepare it", 0,
                    config["WEBHOOK_RETRY_BASE_SECONDS"], config["WEBHOOK_MAX_ATTEMPTS"], claimed_by)

"""Deliver the outbox: sign each event, POST it, record the attempt, back off on failure.

The outbox is a table, so a restart loses nothing: whatever was not
acknowledged is still due and goes out on the next pass.
"""
import time
from datetime import timedelta

import requests
from sqlalchemy import select

from ..common.security import sign_webhook
from ..extensions import db
from ..common import tracing
from .models import PaymentRequest, WebhookAttempt, WebhookEvent, utcnow


def retry_delay(attempt_count, base_seconds):
    """Seconds to wait after the n-th failed attempt: base, 2*base, 4*base, ..."""
    return base_seconds * 2 ** (attempt_count - 1)


def due_events(now, limit=50):
    return db.session.scalars(select(WebhookEvent).where(
        WebhookEvent.delivered_at.is_(None), WebhookEvent.abandoned_at.is_(None),
        WebhookEvent.next_attempt_at <= now).order_by(WebhookEvent.next_attempt_at).limit(limit)).all()


def deliver_event(event, http, *, timeout, retry_base, max_attempts, now=None):
    """One delivery attempt of one event; records it and schedules the next. Commits."""
    payment = db.session.get(PaymentRequest, event.payment_request_id)
    with tracing.trace(payment.trace_id if payment else None):  # the shop continues the merchant's journey
        return _deliver(event, http, timeout, retry_base, max_attempts, now)


def _deliver(event, http, timeout, retry_base, max_attempts, now):
    body = event.body.encode()
    headers = {"Content-Type": "application/json", "Bank-Signature": sign_webhook(event.merchant.webhook_secret, body),
               "Bank-Event-Id": event.id}
    started = time.monotonic()
    status_code = error = None
    try:
        response = http.post(event.url, data=body, headers=headers, timeout=(min(3.0, timeout), timeout))
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}: {response.text[:200]}"
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {str(exc)[:250]}"
    now = now or utcnow()
    db.session.add(WebhookAttempt(event=event, attempted_at=now, status_code=status_code, error=error,
                                  duration_ms=int((time.monotonic() - started) * 1000)))
    event.attempt_count += 1
    if error is None:
        event.delivered_at = now
    elif event.attempt_count >= max_attempts:
        event.abandoned_at = now
    else:
        event.next_attempt_at = now + timedelta(seconds=retry_delay(event.attempt_count, retry_base))
    db.session.commit()
    return error is None


def deliver_due_webhooks(http, config, now=None):
    """Try every event that is due; returns how many were acknowledged."""
    delivered = 0
    for event in due_events(now or utcnow()):
        delivered += deliver_event(event, http, timeout=config["WEBHOOK_TIMEOUT_SECONDS"],
                                   retry_base=config["WEBHOOK_RETRY_BASE_SECONDS"],
                                   max_attempts=config["WEBHOOK_MAX_ATTEMPTS"])
    return delivered

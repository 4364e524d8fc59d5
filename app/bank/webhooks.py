"""Webhooks: the endpoints a merchant registered, and delivering the outbox to them.

Endpoints are registered by the bank's operator (`flask bank add-webhook-endpoint`),
never by a payment request: a merchant API call can pick one of its merchant's
endpoints, but cannot make the bank call any other address.

Delivery signs each event, POSTs it, records the attempt (the status code or a
classified reason, never the answer's body) and backs off on failure. The outbox
is a table, so a restart loses nothing: whatever was not acknowledged is still due
and goes out on the next pass.
"""
import time
from datetime import timedelta

import requests
from sqlalchemy import select

from ..common.security import sign_webhook
from ..extensions import db
from ..common import tracing
from .models import MerchantWebhookEndpoint, PaymentRequest, WebhookAttempt, WebhookEvent, utcnow
from .outbound import check_webhook_url, describe_failure, describe_status


class UnregisteredEndpoint(ValueError):
    """A URL that is not one of the merchant's registered webhook endpoints."""


def webhook_endpoints_of(merchant):
    """The merchant's registered endpoint URLs, oldest first."""
    return db.session.scalars(select(MerchantWebhookEndpoint.url).where(
        MerchantWebhookEndpoint.merchant_id == merchant.id).order_by(MerchantWebhookEndpoint.id)).all()


def register_webhook_endpoint(merchant, url):
    """Register `url` for the merchant's webhooks (again is a no-op). Flushes; the caller commits.

    Raises `OutboundUrlRefused` for a URL that is not an absolute http(s) URL.
    """
    check_webhook_url(url)
    if url not in webhook_endpoints_of(merchant):
        db.session.add(MerchantWebhookEndpoint(merchant_id=merchant.id, url=url))
        db.session.flush()
    return url


def registered_endpoint(merchant, url):
    """`url` if the merchant registered it; raise `UnregisteredEndpoint` otherwise.

    Compared as exact strings in Python, so no attacker-chosen text reaches SQL.
    """
    if isinstance(url, str) and url in webhook_endpoints_of(merchant):
        return url
    raise UnregisteredEndpoint(url)


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
        # A redirect is not followed: it would send the signed event to an address nobody registered.
        response = http.post(event.url, data=body, headers=headers, timeout=(min(3.0, timeout), timeout),
                             allow_redirects=False)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = describe_status(status_code)  # never the body: it is the remote's to say, not ours to show
    except requests.RequestException as exc:
        error = describe_failure(exc)
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

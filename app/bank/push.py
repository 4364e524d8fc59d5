"""Web Push from the bank to its customers' phones (pywebpush, VAPID, RFC 8030).

Messages go through an outbox table and a worker with a small thread pool, so
"Pay now" never waits for a push service, a hanging one holds up one thread at
most, and a restart loses nothing. 404/410 mean the subscription is gone (the
device is deleted); 429 and 5xx are retried, honouring Retry-After.
"""
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import requests
from pywebpush import WebPushException, webpush
from sqlalchemy import select, update

from ..common import tracing
from ..common.clock import isoformat, utcnow
from ..common.http import traced_session
from ..common.money import format_money
from ..extensions import db
from .models import Device, PushAttempt, PushMessage
from .worker import BackgroundLoop

log = logging.getLogger(__name__)
MAX_PAYLOAD_BYTES = 3072
TEST_MESSAGE_TTL_SECONDS = 300


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
    """One message per registered device of the card holder. Commits; returns how many."""
    devices = db.session.scalars(select(Device).where(Device.customer_id == payment.customer_id,
                                                      Device.endpoint.isnot(None))).all()
    payload = payment_payload(payment, app_url)
    for device in devices:
        db.session.add(PushMessage(device_id=device.id, payment_request_id=payment.id, kind="payment_request",
                                   payload=payload, topic=topic_for(payment.id), expires_at=payment.expires_at))
    db.session.commit()
    return len(devices)


def queue_test_push(customer, app_url, device_id=None):
    now = utcnow()
    query = select(Device).where(Device.customer_id == customer.id, Device.endpoint.isnot(None))
    if device_id is not None:
        query = query.where(Device.id == device_id)
    devices = db.session.scalars(query).all()
    for device in devices:
        db.session.add(PushMessage(device_id=device.id, kind="test", payload=test_payload(app_url, now),
                                   topic=f"test-{device.id}", expires_at=now + timedelta(seconds=TEST_MESSAGE_TTL_SECONDS)))
    db.session.commit()
    return len(devices)


class PushSender:
    """Signs and sends one message. One reused HTTP session; a fresh claims dict per call,
    because pywebpush writes `aud` and `exp` into the dict it is given."""

    def __init__(self, vapid, subject, settings, timeout):
        self.vapid, self.subject, self.timeout = vapid, subject, timeout
        self.session = traced_session(settings)

    def send(self, subscription_info, payload, ttl, topic, urgency="high"):
        """Returns (status_code or None, retry_after seconds or None, error text or None)."""
        claims = {"sub": self.subject}
        try:
            response = webpush(subscription_info, data=payload, vapid_private_key=self.vapid, vapid_claims=claims,
                               ttl=ttl, timeout=self.timeout, headers={"Urgency": urgency, "Topic": topic},
                               requests_session=self.session)
        except WebPushException as exc:
            response = exc.response
            if response is None:
                return None, None, str(exc)[:300]
        except requests.RequestException as exc:
            return None, None, f"{type(exc).__name__}: {str(exc)[:250]}"
        retry_after = _retry_after(response.headers.get("Retry-After"))
        error = None if response.status_code in (200, 201, 202) else f"HTTP {response.status_code}: {response.text[:200]}"
        return response.status_code, retry_after, error


def _retry_after(value):
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None


def deliver_push(message_id, sender, max_attempts, now=None):
    """One attempt at one message: send, record on the device, decide what next. Commits."""
    message = db.session.get(PushMessage, message_id)
    if message is None or message.state != "sending":
        return None
    device = message.device
    now = now or utcnow()
    trace_id = json.loads(message.payload).get("journey")
    with tracing.trace(trace_id):
        return _attempt(message, device, sender, max_attempts, now)


def _attempt(message, device, sender, max_attempts, now):
    ttl = int((message.expires_at - now).total_seconds())
    if ttl <= 0:
        message.state = "expired"
        db.session.commit()
        return "expired"
    started = time.monotonic()
    status, retry_after, error = sender.send(device.subscription_info(), message.payload, ttl, message.topic)
    now = utcnow()
    message.attempt_count += 1
    db.session.add(PushAttempt(device_id=device.id, message_id=message.id, attempted_at=now, status_code=status,
                               error=error, duration_ms=int((time.monotonic() - started) * 1000)))
    device.last_attempt_at = now
    device.last_status = f"{status} {'ok' if error is None else 'failed'}" if status else "no answer"
    if error is None:
        message.state, device.last_success_at = "delivered", now
    elif status in (404, 410):
        message.state = "gone"
        db.session.delete(device)  # the subscription no longer exists: stop pushing to it
    elif (status is None or status == 429 or status >= 500) and message.attempt_count < max_attempts:
        delay = retry_after if retry_after is not None else 2 ** message.attempt_count
        message.state, message.next_attempt_at = "queued", now + timedelta(seconds=delay)
        if message.next_attempt_at >= message.expires_at:
            message.state = "expired"
    else:
        message.state = "failed"
    db.session.commit()
    return message.state


class PushWorker(BackgroundLoop):
    """Claims due messages and sends them on a small thread pool, off every request path."""

    name = "push-worker"

    def __init__(self, app, sender):
        super().__init__(app)
        self.sender = sender
        self.max_attempts = app.config["PUSH_MAX_ATTEMPTS"]
        self.pool = ThreadPoolExecutor(max_workers=app.config["PUSH_WORKER_THREADS"], thread_name_prefix="push")

    def before_start(self):
        with self.app.app_context():  # a message caught mid-send by a restart is sent again
            db.session.execute(update(PushMessage).where(PushMessage.state == "sending").values(state="queued"))
            db.session.commit()

    def stop(self):
        super().stop()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def run_once(self):
        for message_id in self.claim_due():
            self.pool.submit(self._send, message_id)

    def claim_due(self):
        """Mark due messages 'sending' (a conditional update, so each is claimed once) and return their ids."""
        with self.app.app_context():
            now = utcnow()
            ids = db.session.scalars(select(PushMessage.id).where(
                PushMessage.state == "queued", PushMessage.next_attempt_at <= now).limit(50)).all()
            claimed = []
            for message_id in ids:
                result = db.session.execute(update(PushMessage).where(
                    PushMessage.id == message_id, PushMessage.state == "queued").values(state="sending"))
                if result.rowcount == 1:
                    claimed.append(message_id)
            db.session.commit()
            return claimed

    def _send(self, message_id):
        with self.app.app_context():
            try:
                deliver_push(message_id, self.sender, self.max_attempts)
            except Exception:
                log.exception("push delivery failed")
                db.session.rollback()
                db.session.execute(update(PushMessage).where(PushMessage.id == message_id)
                                   .values(state="failed"))
                db.session.commit()

"""The bank's side of a class, counted in SQL (no request context): what the instructor's page shows.

Counted per customer (a learner), not per row: "registered a phone" is customers with a device,
whatever the number of devices. Only what the bank itself knows; which factor approved a payment is
the walkthrough's to count (it records each step with the factors it checked).
"""
from sqlalchemy import func, select

from ...common.clock import isoformat, utcnow
from ...extensions import db
from ..models import Customer, Device, PaymentRequest, PushAttempt, PushMessage, WebhookEvent

SUCCESS = (200, 201, 202, 204)  # a push service that accepted the message


def _count(query):
    return db.session.scalar(query) or 0


def _age_seconds(oldest, now):
    return None if oldest is None else round((now - oldest).total_seconds(), 1)


def class_figures(now=None):
    now = now or utcnow()
    customers_with = lambda *where: _count(select(func.count(func.distinct(Device.customer_id)))  # noqa: E731
                                           .select_from(Device).where(*where))
    pushed = _count(select(func.count(func.distinct(Device.customer_id))).select_from(PushAttempt)
                    .join(Device, PushAttempt.device_id == Device.id).where(PushAttempt.status_code.in_(SUCCESS)))
    statuses = dict(db.session.execute(select(PaymentRequest.status, func.count()).group_by(PaymentRequest.status)).all())
    undelivered = (WebhookEvent.delivered_at.is_(None), WebhookEvent.abandoned_at.is_(None))
    webhooks_waiting, webhook_oldest = db.session.execute(
        select(func.count(), func.min(WebhookEvent.created_at)).where(*undelivered)).one()
    pushes_waiting, push_oldest = db.session.execute(
        select(func.count(), func.min(PushMessage.created_at)).where(PushMessage.state == "queued")).one()
    return {
        "customers": _count(select(func.count()).select_from(Customer)),
        "registered_a_phone": customers_with(),
        "notifications_on": customers_with(Device.endpoint.isnot(None)),
        "push_delivered": pushed,
        "payments": {status: statuses.get(status, 0)
                     for status in ("pending", "approved", "declined", "expired", "cancelled")},
        "outbox": {"webhooks_waiting": webhooks_waiting, "oldest_webhook_seconds": _age_seconds(webhook_oldest, now),
                   "pushes_waiting": pushes_waiting, "oldest_push_seconds": _age_seconds(push_oldest, now)},
    }


def customer_diagnostics(username):
    """A learner's devices and the last push to each, as the bank app's own diagnostics show them; or None.

    The push endpoint itself is a capability (whoever holds it can push to that phone): only its host is shown.
    """
    customer = db.session.scalar(select(Customer).where(Customer.username == username))
    if customer is None:
        return None
    devices = []
    for device in db.session.scalars(select(Device).where(Device.customer_id == customer.id).order_by(Device.id)):
        last = db.session.scalars(select(PushAttempt).where(PushAttempt.device_id == device.id)
                                  .order_by(PushAttempt.id.desc()).limit(1)).first()
        devices.append({
            "name": device.name, "registered_at": isoformat(device.created_at), "notifications": bool(device.endpoint),
            "push_service": device.endpoint.split("/")[2] if device.endpoint else None,
            "last_push": None if last is None else {
                "at": isoformat(last.attempted_at), "status": last.status_code, "error": last.error,
                "accepted": last.status_code in SUCCESS},
            "last_receipt_at": isoformat(device.last_receipt_at)})
    pending = _count(select(func.count()).select_from(PaymentRequest).where(
        PaymentRequest.customer_id == customer.id, PaymentRequest.status == "pending"))
    return {"username": customer.username, "devices": devices, "pending_payments": pending}

"""Tell the people and programs that a payment request changed: the bank app and the outbox worker."""
from flask import current_app

from ..common.realtime import emit_event

BANK_NAMESPACE = "/bank"


def customer_room(customer_id):
    return f"customer:{customer_id}"


def payment_request_changed(payment):
    """The customer's open bank-app screens refresh; the worker delivers the webhook now, not later."""
    emit_event("payment_request", {"id": payment.id, "journey": payment.trace_id, "status": payment.status,
                                   "amount": payment.amount,
                                   "merchant": payment.merchant.name, "binding_code": payment.binding_code,
                                   "expires_at": payment.to_api()["expires_at"],
                                   "decline_reason": payment.decline_reason},
               room=customer_room(payment.customer_id), namespace=BANK_NAMESPACE)
    worker = current_app.extensions.get("bank_worker")
    if worker is not None:
        worker.wake()


def payment_request_created(payment):
    """A new request: the bank app's open screens hear it at once, and every registered phone gets a push."""
    payment_request_changed(payment)
    if payment.status == "pending":
        from .push import queue_payment_push
        if queue_payment_push(payment, bank_app_url()):
            current_app.extensions["bank_push_worker"].wake()


def bank_app_url():
    return current_app.config["PUBLIC_URL"] + "/bank/app"

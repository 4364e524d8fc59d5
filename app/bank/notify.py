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
    """A new request, committed with its push messages: the bank app's open screens hear it at once,
    and the push worker sends to every registered phone now rather than at its next tick."""
    payment_request_changed(payment)
    push_worker = current_app.extensions.get("bank_push_worker")
    if payment.status == "pending" and push_worker is not None:
        push_worker.wake()


def bank_app_url():
    return current_app.config["PUBLIC_URL"] + "/bank/app"

"""Side effects of the bank's decisions, sent once they are committed, from one place.

The services record what happened (a payment request created or changed) in the
transaction that does it; when that transaction commits, the dispatcher tells the
customer's open bank-app screens (Socket.IO) and wakes the workers that deliver the
webhook and the pushes. A rolled-back decision tells nobody anything, and no view has
to remember to notify: whatever path changes a payment, the same things follow.
"""
import logging

from flask import current_app, has_app_context
from sqlalchemy import event

from ..common.realtime import emit_event
from ..extensions import db

log = logging.getLogger(__name__)
BANK_NAMESPACE = "/bank"
_AFTER_COMMIT = "bank_after_commit"  # the list in Session.info where services leave what to send


def customer_room(customer_id):
    return f"customer:{customer_id}"


def payment_request_changed(payment, created=False):
    """Record, in the current transaction, that `payment` was created or changed status.

    The message is built now (after the commit the objects are expired, and no SQL may
    run in the commit hook); it is sent only if the transaction commits.
    """
    message = {"id": payment.id, "journey": payment.trace_id, "status": payment.status, "amount": payment.amount,
               "merchant": payment.merchant.name, "binding_code": payment.binding_code,
               "expires_at": payment.to_api()["expires_at"], "decline_reason": payment.decline_reason}
    pushes = created and payment.status == "pending"
    db.session.info.setdefault(_AFTER_COMMIT, []).append((customer_room(payment.customer_id), message, pushes))


@event.listens_for(db.session, "after_commit")
def _send_after_commit(session):
    """The dispatcher: every recorded change is emitted, and the workers are woken, once."""
    recorded = session.info.pop(_AFTER_COMMIT, [])
    if not recorded or not has_app_context():
        return
    # The workers first: the webhook is what turns the learner's laptop to paid, and the emits below
    # (one per open bank-app screen's room) need not go before it.
    _wake("bank_webhook_worker")  # a webhook (or an expiry's) is due now, not at the next tick
    if any(pushes for _room, _message, pushes in recorded):
        _wake("bank_push_worker")
    for room, message, _pushes in recorded:
        try:  # the decision is committed: a failing emit must not turn it into an error, nor stop the rest
            emit_event("payment_request", message, room=room, namespace=BANK_NAMESPACE)
        except Exception:
            log.exception("could not announce a payment request change")


@event.listens_for(db.session, "after_rollback")
def _forget_after_rollback(session):
    session.info.pop(_AFTER_COMMIT, None)


def _wake(name):
    worker = current_app.extensions.get(name) if name else None
    if worker is not None:
        worker.wake()


def bank_app_url():
    return current_app.config["PUBLIC_URL"] + "/bank/app"

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
_LEASED_WEBHOOKS = "bank_leased_webhooks"  # webhooks leased to this process's worker, sent as the commit ends
_UNLEASED_WEBHOOKS = "bank_unleased_webhooks"  # a webhook left for the worker's pass: wake it
BANK_WORKERS = ("bank_webhook_worker", "bank_push_worker", "bank_expiry_worker")


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


def webhook_queued(event, payment):
    """Record, in the current transaction, that a webhook `event` of `payment` joined the outbox.

    When this process runs the webhook worker and it has a free thread and room for the endpoint, the
    event is leased to it now, in this transaction, and handed to it as the transaction commits (the
    merchant hears at once). Otherwise the worker is woken after the commit, and its pass claims it.
    """
    worker = current_app.extensions.get("bank_webhook_worker")
    delivery = worker.lease_at_queue(event, payment) if worker is not None else None
    if delivery is not None:
        db.session.info.setdefault(_LEASED_WEBHOOKS, []).append(delivery)
    else:
        db.session.info[_UNLEASED_WEBHOOKS] = True


@event.listens_for(db.session, "after_commit")
def _send_after_commit(session):
    """The dispatcher: leased webhooks go to the worker, the workers are woken, every change is emitted, once."""
    leased, unleased = session.info.pop(_LEASED_WEBHOOKS, []), session.info.pop(_UNLEASED_WEBHOOKS, False)
    recorded = session.info.pop(_AFTER_COMMIT, [])
    if not has_app_context() or not (recorded or leased or unleased):
        return
    # The webhooks first: they are what turns the learner's laptop to paid, and the emits below (one per
    # open bank-app screen's room) need not go before them.
    if leased:
        try:  # the decision is committed: a worker stopping meanwhile must not turn it into an error
            current_app.extensions["bank_webhook_worker"].submit(leased)
        except Exception:  # the leases run out, and a pass (here or in another process) sends them
            log.exception("could not hand %d leased webhooks to the worker", len(leased))
    if unleased:
        wake_worker("bank_webhook_worker")  # due now, not at the next tick
    if any(pushes for _room, _message, pushes in recorded):
        wake_worker("bank_push_worker")
    for room, message, _pushes in recorded:
        try:  # the decision is committed: a failing emit must not turn it into an error, nor stop the rest
            emit_event("payment_request", message, room=room, namespace=BANK_NAMESPACE)
        except Exception:
            log.exception("could not announce a payment request change")


@event.listens_for(db.session, "after_rollback")
def _forget_after_rollback(session):
    """Nothing happened: nothing is said, and the leases taken in the transaction went with it."""
    for key in (_AFTER_COMMIT, _LEASED_WEBHOOKS, _UNLEASED_WEBHOOKS):
        session.info.pop(key, None)


WAKE = "wake-bank-worker"  # the process bus's topic: wake the named worker wherever it runs


def wake_worker(name):
    """Make the worker `name` act now: in this process if it runs here, else wherever it does.

    With the workers in a process of their own (`flask bank worker`), a decision committed by a web
    process reaches them over the process bus; without it, the webhook would leave at their next tick.
    """
    worker = current_app.extensions.get(name)
    if worker is not None and worker.running:
        worker.wake()
    else:
        current_app.extensions["process_bus"].publish(WAKE, name)


def wake_worker_here(name):
    """The process bus's handler: wake `name` if this process runs it (the others ignore the message)."""
    worker = current_app.extensions.get(name) if name in BANK_WORKERS else None
    if worker is not None and worker.running:
        worker.wake()


def bank_app_url():
    return current_app.config["PUBLIC_URL"] + "/bank/app"

"""The lab's wiretap on the bank → shop link: it keeps each signed webhook whole, as it crossed.

An attacker who can read that link (a logging proxy, a leaky load balancer) holds exactly this: the
event's raw body and its Bank-Signature header. The walkthrough stores webhooks with the signature
shortened; the lab needs it whole to show what a captured signature is worth (attacks 3 and 4).
It listens to the same tracing hook as the walkthrough, for this app only, and stores on a queue's
thread, never on the webhook's path.
"""
import logging

from sqlalchemy.orm import Session

from ..common import tracing
from ..walkthrough.recorder import RecordQueue
from .models import CapturedWebhook

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "Bank-Signature"
MAX_BODY = 10_000  # the bank's events are a few hundred bytes; nothing bigger is one of them


def is_signed_webhook(kind, details):
    """A bank → shop call that carries a Bank-Signature (cheap: it runs on the caller's path)."""
    return (kind == "http" and details.get("sender") == "bank" and details.get("receiver") == "shop"
            and details.get("trace_id") and SIGNATURE_HEADER in (details.get("request_headers") or {}))


def store_captures(app, reported):
    """Store the signed webhooks among `reported` messages, each in the journey whose checkout it belongs to."""
    rows = []
    for _kind, details in reported:
        body = details.get("request_body")
        body = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        signature = str(details["request_headers"][SIGNATURE_HEADER])
        event_id = str(details["request_headers"].get("Bank-Event-Id") or "")[:60]
        if isinstance(body, str) and len(body) <= MAX_BODY and len(signature) <= 200:
            rows.append(CapturedWebhook(journey_id=details["trace_id"], event_id=event_id, body=body,
                                        signature=signature))
    if not rows:
        return
    with app.app_context(), Session(app.extensions["sqlalchemy"].engines[None]) as session:
        session.add_all(rows)
        session.commit()


def start_wiretap(app):
    """Listen for this app's signed webhooks (the journey exists: the walkthrough stored its first message)."""
    queue = app.extensions["lab_wiretap"] = RecordQueue(app, store=store_captures)

    def take(sender, kind, details):
        if is_signed_webhook(kind, details):
            queue.take(sender, kind, details)
    app.extensions["lab_wiretap_listener"] = take  # the signal holds receivers weakly: the app keeps it
    tracing.message_crossed.connect(take, sender=app)

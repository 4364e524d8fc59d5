"""The shop's receiver for the bank's webhooks, exactly as the contract says.

Verify the signature over the raw body *before* parsing it, refuse stale
timestamps, acknowledge and ignore an event id seen before.
"""
import json

from flask import current_app, jsonify, request

from ..common.errors import ApiError
from ..common.security import SignatureError, verify_webhook_signature
from ..common.tracing import walkthrough_step
from ..extensions import csrf
from . import bp, services
from .events import announce_order_payload


def parse_event(raw):
    """(id, type, data) of a verified event body, or a 400 if it is not the documented shape."""
    try:
        event = json.loads(raw)
        event_id, event_type, payment = event["id"], event["type"], event["data"]
    except (ValueError, KeyError, TypeError, RecursionError):
        event_id = event_type = payment = None
    if not (isinstance(event_id, str) and isinstance(event_type, str) and len(event_id) <= 60
            and len(event_type) <= 60 and isinstance(payment, dict) and isinstance(payment.get("id"), str)):
        raise ApiError(400, "invalid_event", "The event is not the documented JSON shape.")
    return event_id, event_type, payment


@bp.post("/webhooks/bank")
@walkthrough_step("webhook")
@csrf.exempt
def receive_bank_webhook():
    raw = request.get_data(cache=False)
    secret = current_app.config.get("BANK_WEBHOOK_SECRET")
    if not secret:
        raise ApiError(503, "not_configured", "The shop has no webhook secret yet; run `flask seed`.")
    try:
        verify_webhook_signature(secret, request.headers.get("Bank-Signature"), raw,
                                 tolerance=current_app.config["WEBHOOK_TOLERANCE_SECONDS"])
    except SignatureError as exc:
        raise ApiError(400, "invalid_signature", f"Webhook rejected: {exc}.") from None
    event_id, event_type, payment = parse_event(raw)
    duplicate, announcement = services.apply_bank_webhook(event_id, event_type, payment)
    if duplicate:
        return jsonify(received=True, duplicate=True)
    if announcement is not None:
        announce_order_payload(*announcement)
    return jsonify(received=True)

"""What the lab may aim at: the signed-in learner's own objects, found in their own walkthrough records.

The lab never asks the shop or the bank for ids (it imports neither, and an attacker has no such
door): it reads what the walkthrough recorded of this learner's checkouts. Another learner's
payment is never in those records, so it can never be a target.
"""
import json
from dataclasses import dataclass

from sqlalchemy import select

from ..extensions import db
from ..walkthrough.models import Journey, TraceMessage
from .models import CapturedWebhook


@dataclass(frozen=True)
class PaymentTarget:
    """The learner's newest payment request, as the bank answered the shop's request for it."""
    journey_id: str
    payment_id: str
    amount: int
    currency: str
    order_reference: str

    @property
    def order_id(self):
        """The shop's order number, from its reference ("order-<id>"), or None."""
        number = self.order_reference.removeprefix("order-")
        return int(number) if number != self.order_reference and number.isdigit() else None


def latest_payment(owner):
    """The newest payment request the bank created for this learner's checkout, or None."""
    rows = db.session.execute(
        select(TraceMessage.journey_id, TraceMessage.details).join(Journey)
        .where(Journey.owner == owner, TraceMessage.step == "payment_request", TraceMessage.status == "201")
        .order_by(TraceMessage.at.desc(), TraceMessage.id.desc()).limit(1)).first()
    if rows is None:
        return None
    answer = (json.loads(rows.details).get("response") or {}).get("body")
    if not (isinstance(answer, dict) and isinstance(answer.get("id"), str) and isinstance(answer.get("amount"), int)):
        return None
    return PaymentTarget(rows.journey_id, answer["id"], answer["amount"], str(answer.get("currency") or ""),
                         str(answer.get("merchant_reference") or ""))


def payment_requests_for_order(owner, order_reference):
    """The distinct payment requests the bank created for one of this learner's orders, as recorded."""
    rows = db.session.scalars(
        select(TraceMessage.details).join(Journey)
        .where(Journey.owner == owner, TraceMessage.step == "payment_request", TraceMessage.status == "201"))
    created = set()
    for details in rows:
        answer = (json.loads(details).get("response") or {}).get("body")
        if isinstance(answer, dict) and answer.get("merchant_reference") == order_reference:
            created.add(answer.get("id"))
    return sorted(created)


def latest_journey_id(owner):
    """The learner's newest journey (where an attack on no particular payment is drawn), or None."""
    return db.session.scalar(select(Journey.id).where(Journey.owner == owner)
                             .order_by(Journey.created_at.desc()).limit(1))


def latest_capture(owner):
    """The newest signed webhook the wiretap caught in one of this learner's checkouts, or None."""
    return db.session.scalar(select(CapturedWebhook).join(Journey, Journey.id == CapturedWebhook.journey_id)
                             .where(Journey.owner == owner)
                             .order_by(CapturedWebhook.captured_at.desc(), CapturedWebhook.id.desc()).limit(1))

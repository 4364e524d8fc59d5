"""The attack lab's own table (default database): what its wiretap caught of the bank's webhooks."""
from ..common.clock import utcnow
from ..extensions import db


class CapturedWebhook(db.Model):
    """A signed webhook as it crossed from the bank to the shop, kept whole (body and Bank-Signature).

    It is what an attacker who can read that link would hold, and the lab's tamper and replay attacks
    start from it. Kept per journey, so only the learner whose checkout it was ever gets it back.
    A signature is no secret: it fits this body at this time only, which is the lesson.
    """
    __tablename__ = "lab_captured_webhooks"
    id = db.Column(db.Integer, primary_key=True)
    # No foreign key: the walkthrough creates the journey on its own thread, which may come second.
    journey_id = db.Column(db.String(32), nullable=False, index=True)
    event_id = db.Column(db.String(60), nullable=False)
    body = db.Column(db.Text, nullable=False)
    signature = db.Column(db.String(200), nullable=False)
    captured_at = db.Column(db.DateTime, nullable=False, default=utcnow)

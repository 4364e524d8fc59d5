"""The walkthrough's own tables (default database): journeys and the messages recorded in them."""
from ..common.clock import utcnow
from ..extensions import db


class Journey(db.Model):
    """One checkout journey: its id is the W3C trace id that every hop carried."""
    __tablename__ = "journeys"
    id = db.Column(db.String(32), primary_key=True)
    owner = db.Column(db.String(60), index=True)  # "shop-user:<id>": only they may look
    title = db.Column(db.String(120), nullable=False, default="Checkout")
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    messages = db.relationship("TraceMessage", back_populates="journey",
                               order_by="(TraceMessage.at, TraceMessage.id)")


class TraceMessage(db.Model):
    __tablename__ = "trace_messages"
    id = db.Column(db.Integer, primary_key=True)
    journey_id = db.Column(db.String(32), db.ForeignKey("journeys.id"), nullable=False, index=True)
    at = db.Column(db.DateTime, nullable=False, default=utcnow)
    kind = db.Column(db.String(20), nullable=False)
    sender = db.Column(db.String(20), nullable=False)
    receiver = db.Column(db.String(20), nullable=False)
    label = db.Column(db.String(200), nullable=False)
    status = db.Column(db.String(20))
    duration_ms = db.Column(db.Float)
    step = db.Column(db.String(40))
    details = db.Column(db.Text, nullable=False)  # redacted JSON: headers and bodies

    journey = db.relationship("Journey", back_populates="messages")


class WalkthroughOpening(db.Model):
    """A learner who has opened the live walkthrough (its socket connected), for the instructor's count."""
    __tablename__ = "walkthrough_openings"
    owner = db.Column(db.String(60), primary_key=True)
    first_opened_at = db.Column(db.DateTime, nullable=False, default=utcnow)

"""The shop's tables (bind "shop"). No card number is ever stored: only the bank's id and the last 4 digits."""
import json

from ..common.clock import utcnow
from ..extensions import db



class ShopModel(db.Model):
    __abstract__ = True
    __bind_key__ = "shop"


class ShopUser(ShopModel):
    """A customer of the shop, known by their identity provider's (issuer, subject), never a password."""
    __tablename__ = "users"
    __table_args__ = (db.UniqueConstraint("issuer", "subject"),)
    id = db.Column(db.Integer, primary_key=True)
    issuer = db.Column(db.String(255), nullable=False)
    subject = db.Column(db.String(255), nullable=False)
    email = db.Column(db.String(254), nullable=False, default="")
    name = db.Column(db.String(100), nullable=False, default="")
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    last_sign_in_at = db.Column(db.DateTime, nullable=False, default=utcnow)


class Product(ShopModel):
    __tablename__ = "products"
    id = db.Column(db.Integer, primary_key=True)
    slug = db.Column(db.String(60), unique=True, nullable=False)
    name = db.Column(db.String(100), nullable=False)
    price = db.Column(db.Integer, nullable=False)  # cents
    description = db.Column(db.Text, nullable=False)

    @property
    def image(self):
        return f"products/{self.slug}.svg"


class Order(ShopModel):
    __tablename__ = "orders"
    id = db.Column(db.Integer, primary_key=True)
    shopper_id = db.Column(db.String(40), nullable=False, index=True)  # the browser that placed it
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), index=True)  # who owns it (guest orders: none)
    checkout_token = db.Column(db.String(64), unique=True, nullable=False)
    journey_id = db.Column(db.String(32))  # the trace id of the checkout that placed it (walkthrough)
    email = db.Column(db.String(254), nullable=False)
    status = db.Column(db.String(30), nullable=False, default="awaiting_payment")
    delivery_method = db.Column(db.String(20), nullable=False)
    delivery_fee = db.Column(db.Integer, nullable=False)
    address_json = db.Column(db.Text, nullable=False)
    subtotal = db.Column(db.Integer, nullable=False)
    total = db.Column(db.Integer, nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    user = db.relationship("ShopUser")
    lines = db.relationship("OrderLine", back_populates="order", order_by="OrderLine.id")
    attempts = db.relationship("PaymentAttempt", back_populates="order", order_by="PaymentAttempt.id")

    @property
    def reference(self):
        """What the bank and the customer's statement call this order."""
        return f"order-{self.id}"

    @property
    def address(self):
        return json.loads(self.address_json)

    @property
    def payment(self):
        """The latest payment attempt, the one that decides the order."""
        return self.attempts[-1] if self.attempts else None


class OrderLine(ShopModel):
    __tablename__ = "order_lines"
    id = db.Column(db.Integer, primary_key=True)
    order_id = db.Column(db.Integer, db.ForeignKey("orders.id"), nullable=False, index=True)
    product_slug = db.Column(db.String(60), nullable=False)
    name = db.Column(db.String(100), nullable=False)
    unit_price = db.Column(db.Integer, nullable=False)
    quantity = db.Column(db.Integer, nullable=False)

    order = db.relationship("Order", back_populates="lines")

    @property
    def line_total(self):
        return self.unit_price * self.quantity


class PaymentAttempt(ShopModel):
    """One try at paying an order at the bank; a retry after a decline or expiry is a new attempt."""
    __tablename__ = "payment_attempts"
    id = db.Column(db.Integer, primary_key=True)
    order_id = db.Column(db.Integer, db.ForeignKey("orders.id"), nullable=False, index=True)
    idempotency_key = db.Column(db.String(255), unique=True, nullable=False)
    bank_payment_request_id = db.Column(db.String(40), unique=True)
    # requesting -> pending -> approved | declined | expired | cancelled; "error" if the bank could not be asked,
    # "refused" if it refused the request itself (a card it does not know): then the order's payment failed
    status = db.Column(db.String(20), nullable=False, default="requesting")
    binding_code = db.Column(db.String(4))
    expires_at = db.Column(db.String(30))
    decline_reason = db.Column(db.String(40))
    card_last4 = db.Column(db.String(4), nullable=False)
    error = db.Column(db.String(300))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    order = db.relationship("Order", back_populates="attempts")


class ReceivedWebhook(ShopModel):
    """Event ids already handled: a replayed or retried event is acknowledged and ignored."""
    __tablename__ = "received_webhooks"
    id = db.Column(db.Integer, primary_key=True)
    event_id = db.Column(db.String(60), unique=True, nullable=False)
    type = db.Column(db.String(60), nullable=False)
    received_at = db.Column(db.DateTime, nullable=False, default=utcnow)

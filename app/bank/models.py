"""The bank's tables (bind "bank"): customers, cards, the ledger, merchants and payment requests.

No foreign key leaves this bind: the bank knows the shop only as a merchant
(an OAuth client) with a callback URL.
"""
import secrets
import time

from flask import current_app
from sqlalchemy import UniqueConstraint, event
from werkzeug.security import check_password_hash

from ..common.clock import isoformat, utcnow  # noqa: F401  (services import them from here)
from ..extensions import db
from . import pins




def new_id(prefix):
    return f"{prefix}_{secrets.token_urlsafe(12)}"


class BankModel(db.Model):
    __abstract__ = True
    __bind_key__ = "bank"


class Customer(BankModel):
    __tablename__ = "customers"
    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(40), unique=True, nullable=False)
    full_name = db.Column(db.String(100), nullable=False, default="")
    password_hash = db.Column(db.String(255), nullable=False)
    pin_hash = db.Column(db.String(255), nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    account = db.relationship("Account", uselist=False, back_populates="customer")
    cards = db.relationship("Card", back_populates="customer")

    def check_password(self, password):
        return check_password_hash(self.password_hash, password)

    def set_pin(self, pin):
        self.pin_hash = pins.hash_pin(pin, current_app.extensions["bank_pin_peppers"])

    def check_pin(self, pin):
        """Is `pin` this customer's PIN? A right PIN stored the old way is stored anew (the caller commits)."""
        right, rehash = pins.check_pin(self.pin_hash, pin, current_app.extensions["bank_pin_peppers"])
        if right and rehash:
            self.set_pin(pin)
        return right


class Account(BankModel):
    """A place money sits. Its balance is the sum of its ledger entries, never a stored number."""
    __tablename__ = "accounts"
    id = db.Column(db.Integer, primary_key=True)
    number = db.Column(db.String(20), unique=True, nullable=False)
    kind = db.Column(db.String(20), nullable=False)  # customer | merchant | bank
    name = db.Column(db.String(100), nullable=False)
    customer_id = db.Column(db.Integer, db.ForeignKey("customers.id"), unique=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    customer = db.relationship("Customer", back_populates="account")


class Card(BankModel):
    __tablename__ = "cards"
    id = db.Column(db.Integer, primary_key=True)
    number = db.Column(db.String(19), unique=True, nullable=False)
    customer_id = db.Column(db.Integer, db.ForeignKey("customers.id"), nullable=False)
    account_id = db.Column(db.Integer, db.ForeignKey("accounts.id"), nullable=False)
    status = db.Column(db.String(20), nullable=False, default="active")  # active | blocked
    # Wrong PINs in a row; the fifth blocks the card until the bank unlocks it (`make unlock-card`).
    failed_pin_attempts = db.Column(db.Integer, nullable=False, default=0, server_default="0")
    locked_at = db.Column(db.DateTime)  # when the fifth wrong PIN locked it: factors added since are suspect
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    customer = db.relationship("Customer", back_populates="cards")
    account = db.relationship("Account")

    @property
    def last4(self):
        return self.number[-4:]


class Transfer(BankModel):
    """One movement of money: a set of ledger entries that sum to zero."""
    __tablename__ = "transfers"
    id = db.Column(db.Integer, primary_key=True)
    kind = db.Column(db.String(30), nullable=False)  # opening_deposit | payment
    description = db.Column(db.String(200), nullable=False)
    payment_request_id = db.Column(db.String(40), db.ForeignKey("payment_requests.id"), unique=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    entries = db.relationship("LedgerEntry", back_populates="transfer", order_by="LedgerEntry.id")


class LedgerEntry(BankModel):
    """One leg of a transfer: positive credits the account, negative debits it. Never changed."""
    __tablename__ = "ledger_entries"
    id = db.Column(db.Integer, primary_key=True)
    transfer_id = db.Column(db.Integer, db.ForeignKey("transfers.id"), nullable=False, index=True)
    account_id = db.Column(db.Integer, db.ForeignKey("accounts.id"), nullable=False, index=True)
    amount = db.Column(db.BigInteger, nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    transfer = db.relationship("Transfer", back_populates="entries")
    account = db.relationship("Account")


class LedgerImmutableError(RuntimeError):
    """Raised on any attempt to change or delete a posted entry: corrections are new entries."""


@event.listens_for(LedgerEntry, "before_update")
@event.listens_for(Transfer, "before_update")
def _refuse_ledger_update(mapper, connection, target):
    # A transfer gaining entries touches only a collection, not a posted column.
    if db.session.is_modified(target, include_collections=False):
        raise LedgerImmutableError(f"{type(target).__name__} {target.id} is posted and cannot change")


@event.listens_for(LedgerEntry, "before_delete")
@event.listens_for(Transfer, "before_delete")
def _refuse_ledger_delete(mapper, connection, target):
    raise LedgerImmutableError(f"{type(target).__name__} {target.id} is posted and cannot be deleted")


class Merchant(BankModel):
    """A shop that may ask for payments: an OAuth2 client of the bank's token endpoint."""
    __tablename__ = "merchants"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(100), nullable=False)
    client_id = db.Column(db.String(48), unique=True, nullable=False)
    client_secret_hash = db.Column(db.String(255), nullable=False)
    # The webhook secret signs with itself (HMAC), so it cannot be hashed like the client secret:
    # it is encrypted under BANK_SECRETS_KEY, which is never in the database (see common/secretbox.py).
    webhook_secret_encrypted = db.Column(db.String(255), nullable=False)
    callback_url = db.Column(db.String(500), nullable=False)
    scope = db.Column(db.String(100), nullable=False, default="payments")
    account_id = db.Column(db.Integer, db.ForeignKey("accounts.id"), nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    account = db.relationship("Account")

    @property
    def webhook_secret(self):
        """The secret in clear, decrypted only when it is needed: to sign a webhook, or to show it once."""
        from flask import current_app

        from ..common.secretbox import decrypt
        return decrypt(self.webhook_secret_encrypted, current_app.config["BANK_SECRETS_KEY"])

    @webhook_secret.setter
    def webhook_secret(self, plaintext):
        from flask import current_app

        from ..common.secretbox import encrypt
        self.webhook_secret_encrypted = encrypt(plaintext, current_app.config["BANK_SECRETS_KEY"])

    # --- Authlib ClientMixin: what the token endpoint asks of a client ---
    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope):
        allowed = set(self.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        return False

    def check_client_secret(self, client_secret):
        # Stored hashed like a password: a leaked database does not leak live secrets.
        return check_password_hash(self.client_secret_hash, client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method == "client_secret_basic"

    def check_response_type(self, response_type):
        return False

    def check_grant_type(self, grant_type):
        return grant_type == "client_credentials"


class AccessToken(BankModel):
    """A bearer token issued to a merchant; only its SHA-256 is kept."""
    __tablename__ = "access_tokens"
    id = db.Column(db.Integer, primary_key=True)
    token_hash = db.Column(db.String(64), unique=True, nullable=False)
    merchant_id = db.Column(db.Integer, db.ForeignKey("merchants.id"), nullable=False)
    scope = db.Column(db.String(100), nullable=False, default="")
    issued_at = db.Column(db.Integer, nullable=False, default=lambda: int(time.time()))
    expires_in = db.Column(db.Integer, nullable=False)
    revoked = db.Column(db.Boolean, nullable=False, default=False)

    merchant = db.relationship("Merchant")

    # --- Authlib TokenMixin ---
    def check_client(self, client):
        return self.merchant_id == client.id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return self.expires_in

    def is_expired(self):
        return self.issued_at + self.expires_in < time.time()

    def is_revoked(self):
        return self.revoked


class PaymentRequest(BankModel):
    """A merchant's request that a card holder approve a payment in the bank app."""
    __tablename__ = "payment_requests"
    # At most one pending request per merchant reference: a merchant whose answer was lost cannot
    # ask again beside it, so one order is never payable twice (issue 8). Final ones may repeat.
    __table_args__ = (db.Index("uq_payment_requests_pending_reference", "merchant_id", "merchant_reference",
                               unique=True, sqlite_where=db.text("status = 'pending'"),
                               postgresql_where=db.text("status = 'pending'")),)
    id = db.Column(db.String(40), primary_key=True, default=lambda: new_id("pr"))
    merchant_id = db.Column(db.Integer, db.ForeignKey("merchants.id"), nullable=False, index=True)
    card_id = db.Column(db.Integer, db.ForeignKey("cards.id"), nullable=False)
    customer_id = db.Column(db.Integer, db.ForeignKey("customers.id"), nullable=False, index=True)
    amount = db.Column(db.BigInteger, nullable=False)
    currency = db.Column(db.String(3), nullable=False)
    merchant_reference = db.Column(db.String(100), nullable=False)
    description = db.Column(db.String(200), nullable=False, default="")
    callback_url = db.Column(db.String(500), nullable=False)
    status = db.Column(db.String(20), nullable=False, default="pending", index=True)
    decline_reason = db.Column(db.String(40))
    binding_code = db.Column(db.String(4), nullable=False)
    expires_at = db.Column(db.DateTime, nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    decided_at = db.Column(db.DateTime)
    trace_id = db.Column(db.String(32))  # the merchant's W3C trace: one journey across every hop

    merchant = db.relationship("Merchant")
    card = db.relationship("Card")
    customer = db.relationship("Customer")

    def status_at(self, now):
        """The status as of `now`: a pending request past its deadline reads as expired.

        Reads never write: only the expiry sweep stores "expired" (and queues its webhook);
        until it runs, everyone who looks is told the truth anyway.
        """
        if self.status == "pending" and self.expires_at <= now:
            return "expired"
        return self.status

    @property
    def effective_status(self):
        """`status_at` now: what the API, the bank app and its pages show."""
        return self.status_at(utcnow())

    def to_api(self):
        """The payment request as the merchant API publishes it."""
        data = {
            "id": self.id, "status": self.effective_status, "amount": self.amount, "currency": self.currency,
            "merchant_reference": self.merchant_reference, "description": self.description,
            "binding_code": self.binding_code, "expires_at": isoformat(self.expires_at),
            "created_at": isoformat(self.created_at), "card_last4": self.card.last4,
        }
        if self.status == "declined":
            data["decline_reason"] = self.decline_reason
        if self.decided_at:
            data["decided_at"] = isoformat(self.decided_at)
        return data


class IdempotencyRecord(BankModel):
    """What the bank answered to a merchant's Idempotency-Key, to answer the same again."""
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("merchant_id", "key"),)
    id = db.Column(db.Integer, primary_key=True)
    merchant_id = db.Column(db.Integer, db.ForeignKey("merchants.id"), nullable=False)
    key = db.Column(db.String(255), nullable=False)
    request_hash = db.Column(db.String(64), nullable=False)
    payment_request_id = db.Column(db.String(40), db.ForeignKey("payment_requests.id"), nullable=False)
    response_body = db.Column(db.Text, nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)


class WebhookEvent(BankModel):
    """The outbox: an event to deliver to a merchant, kept until it is acknowledged or given up."""
    __tablename__ = "webhook_events"
    id = db.Column(db.String(40), primary_key=True, default=lambda: new_id("evt"))
    merchant_id = db.Column(db.Integer, db.ForeignKey("merchants.id"), nullable=False, index=True)
    payment_request_id = db.Column(db.String(40), db.ForeignKey("payment_requests.id"), nullable=False)
    type = db.Column(db.String(60), nullable=False)
    url = db.Column(db.String(500), nullable=False)
    body = db.Column(db.Text, nullable=False)  # the exact bytes that are signed and sent
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    next_attempt_at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)
    attempt_count = db.Column(db.Integer, nullable=False, default=0)
    delivered_at = db.Column(db.DateTime)
    abandoned_at = db.Column(db.DateTime)
    # The lease of an event being sent (see `outbox`): which worker holds it, until when. Committed
    # before the POST; after a crash only an expired lease is claimed again (so no second delivery).
    claimed_by = db.Column(db.String(64))
    claimed_until = db.Column(db.DateTime)

    merchant = db.relationship("Merchant")
    attempts = db.relationship("WebhookAttempt", back_populates="event", order_by="WebhookAttempt.id")

    @property
    def state(self):
        if self.delivered_at:
            return "delivered"
        return "abandoned" if self.abandoned_at else "retrying" if self.attempt_count else "queued"


class WebhookAttempt(BankModel):
    __tablename__ = "webhook_attempts"
    id = db.Column(db.Integer, primary_key=True)
    event_id = db.Column(db.String(40), db.ForeignKey("webhook_events.id"), nullable=False, index=True)
    attempted_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    status_code = db.Column(db.Integer)
    error = db.Column(db.String(300))
    duration_ms = db.Column(db.Integer, nullable=False, default=0)

    event = db.relationship("WebhookEvent", back_populates="attempts")


class MerchantWebhookEndpoint(BankModel):
    """A URL registered by the bank's operator for a merchant's webhooks (as Stripe registers endpoints).

    A payment request may only name one of these as its `callback_url`: the
    merchant API never makes the bank call an address of the caller's choosing.
    """
    __tablename__ = "merchant_webhook_endpoints"
    __table_args__ = (UniqueConstraint("merchant_id", "url"),)
    id = db.Column(db.Integer, primary_key=True)
    merchant_id = db.Column(db.Integer, db.ForeignKey("merchants.id"), nullable=False, index=True)
    url = db.Column(db.String(500), nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    merchant = db.relationship("Merchant", backref=db.backref(
        "webhook_endpoints", order_by="MerchantWebhookEndpoint.id", lazy="select"))


class Device(BankModel):
    """A phone (or browser) of a customer's: the possession factor. It holds a secret device token
    (in an HttpOnly cookie; only its hash is kept here) and, if notifications are on, a push subscription."""
    __tablename__ = "devices"
    id = db.Column(db.Integer, primary_key=True)
    customer_id = db.Column(db.Integer, db.ForeignKey("customers.id"), nullable=False, index=True)
    token_hash = db.Column(db.String(64), unique=True)
    endpoint = db.Column(db.String(1000), unique=True)
    p256dh = db.Column(db.String(200))
    auth = db.Column(db.String(100))
    name = db.Column(db.String(100), nullable=False, default="This device")
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    last_attempt_at = db.Column(db.DateTime)
    last_success_at = db.Column(db.DateTime)
    last_status = db.Column(db.String(120))
    # When its service worker last said a push arrived (the receipt): the push service's 201 only says it took it.
    last_receipt_at = db.Column(db.DateTime)

    customer = db.relationship("Customer")
    attempts = db.relationship("PushAttempt", back_populates="device", order_by="PushAttempt.id.desc()",
                               cascade="all, delete-orphan", passive_deletes=True)

    def subscription_info(self):
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}

    def to_json(self):
        return {"id": self.id, "name": self.name, "push": bool(self.endpoint),
                "endpoint_host": self.endpoint.split("/")[2] if self.endpoint else None,
                "created_at": isoformat(self.created_at), "last_attempt_at": isoformat(self.last_attempt_at),
                "last_success_at": isoformat(self.last_success_at), "last_status": self.last_status}


class PushMessage(BankModel):
    """The push outbox: one message for one device, sent off the request path and retried on 429/5xx."""
    __tablename__ = "push_messages"
    id = db.Column(db.Integer, primary_key=True)
    device_id = db.Column(db.Integer, db.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False, index=True)
    payment_request_id = db.Column(db.String(40), db.ForeignKey("payment_requests.id"))
    kind = db.Column(db.String(20), nullable=False)  # payment_request | test
    payload = db.Column(db.Text, nullable=False)
    topic = db.Column(db.String(32), nullable=False)
    expires_at = db.Column(db.DateTime, nullable=False)  # TTL is counted down to this
    state = db.Column(db.String(20), nullable=False, default="queued", index=True)
    next_attempt_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    attempt_count = db.Column(db.Integer, nullable=False, default=0)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    # The lease of a message being sent: which worker holds it, until when. Committed before the
    # network call; after a crash only an expired lease is claimed again (so no double push).
    claimed_by = db.Column(db.String(64))
    claimed_until = db.Column(db.DateTime)

    device = db.relationship("Device")


class PushAttempt(BankModel):
    """One POST to a push service, as recorded on the device."""
    __tablename__ = "push_attempts"
    id = db.Column(db.Integer, primary_key=True)
    device_id = db.Column(db.Integer, db.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False, index=True)
    message_id = db.Column(db.Integer, db.ForeignKey("push_messages.id", ondelete="CASCADE"), nullable=False)
    attempted_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    status_code = db.Column(db.Integer)
    error = db.Column(db.String(300))
    duration_ms = db.Column(db.Integer, nullable=False, default=0)

    device = db.relationship("Device", back_populates="attempts")


class Passkey(BankModel):
    """A WebAuthn credential (fingerprint or face on the phone): possession and inherence in one."""
    __tablename__ = "passkeys"
    id = db.Column(db.Integer, primary_key=True)
    customer_id = db.Column(db.Integer, db.ForeignKey("customers.id"), nullable=False, index=True)
    credential_id = db.Column(db.String(400), unique=True, nullable=False)  # base64url
    public_key = db.Column(db.LargeBinary, nullable=False)
    sign_count = db.Column(db.Integer, nullable=False, default=0)
    name = db.Column(db.String(100), nullable=False, default="Fingerprint or face")
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    last_used_at = db.Column(db.DateTime)

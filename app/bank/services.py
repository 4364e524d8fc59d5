"""The bank's domain logic: customers and the life of a payment request.

Functions take explicit arguments and need no request context. They raise
`BankError` subclasses (errors.py), which carry the HTTP answer an API gives
them and which the bank app turns into friendly messages.

The factor policy lives here: an approval checks every factor itself (the
customer, the registered device and the PIN, or a verified passkey), so no
caller can skip one. `cards` holds the PIN check, `devices` and `passkeys` the
lookups and the WebAuthn check; none of them imports this module.
"""
import hashlib
import json
import re
import secrets
import time
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from werkzeug.security import generate_password_hash

from ..common import tracing
from ..common.security import account_if_password_matches, luhn_valid, normalise_card_number
from ..extensions import db
from . import cards, devices, ledger, notify, passkeys
from .errors import BankError, Conflict, InvalidField, NotFound  # noqa: F401  (what the services raise)
from .merchants import UnregisteredEndpoint, registered_endpoint
from .models import Account, Card, Customer, IdempotencyRecord, PaymentRequest, WebhookEvent, new_id, utcnow
from .outbox.push import queue_payment_push

FINAL_STATUSES = ("approved", "declined", "expired", "cancelled")
DECLINE_REASONS = ("customer_declined", "insufficient_funds", "card_blocked")
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,39}$")
MAX_AMOUNT = 100_000_000  # R 1 000 000.00


# --- customers and merchants ------------------------------------------------

def validate_new_customer(username, password, pin):
    username = (username or "").strip().lower()
    if not USERNAME_PATTERN.match(username):
        raise InvalidField("Choose a username of 3 to 40 letters, digits, dots, dashes or underscores.", "username")
    if len(password or "") < 8:
        raise InvalidField("Choose a password of at least 8 characters.", "password")
    if not re.fullmatch(r"\d{4,6}", pin or ""):
        raise InvalidField("The PIN must be 4 to 6 digits.", "pin")
    if db.session.scalar(select(Customer.id).where(Customer.username == username)):
        raise InvalidField("That username is taken; choose another.", "username")
    return username


def create_customer(username, password, pin, opening_balance, full_name=""):
    """Open a customer: login, account, a Luhn-valid card and an opening deposit. Commits."""
    username = validate_new_customer(username, password, pin)
    if opening_balance < 0:
        raise InvalidField("The opening balance cannot be negative.", "balance")
    customer = Customer(username=username, full_name=full_name.strip() or username,
                        password_hash=generate_password_hash(password))
    customer.set_pin(pin)
    db.session.add(customer)
    account = ledger.open_account("customer", f"{customer.full_name}'s cheque account", customer=customer)
    card = Card(number=cards.new_card_number(), customer=customer, account=account)
    db.session.add(card)
    if opening_balance:
        ledger.post_transfer("opening_deposit", "Opening deposit",
                             [(ledger.bank_capital_account(), -opening_balance), (account, opening_balance)])
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise InvalidField("That username is taken; choose another.", "username") from None
    return customer


def authenticate_customer(username, password):
    """The customer with these credentials, or None; both failures take the same time."""
    customer = db.session.scalar(select(Customer).where(Customer.username == (username or "").strip().lower()))
    return account_if_password_matches(customer, password)


# --- payment requests ---------------------------------------------------------

def _request_fingerprint(body):
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _validate_payment_body(body, merchant):
    if not isinstance(body, dict):
        raise InvalidField("The body must be a JSON object.", "body")
    amount = body.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_AMOUNT:
        raise InvalidField(f"amount must be a whole number of cents between 1 and {MAX_AMOUNT}.", "amount")
    if body.get("currency") != "ZAR":
        raise InvalidField("currency must be \"ZAR\": Baobab Bank pays in rand only.", "currency")
    reference = body.get("merchant_reference")
    if not isinstance(reference, str) or not 0 < len(reference) <= 100:
        raise InvalidField("merchant_reference must be a string of 1 to 100 characters.", "merchant_reference")
    description = body.get("description", "")
    if not isinstance(description, str) or len(description) > 200:
        raise InvalidField("description must be a string of at most 200 characters.", "description")
    # Optional; when given, one of the merchant's registered endpoints: never an address of the caller's choosing.
    callback_url = body.get("callback_url")
    if callback_url is None or callback_url == "":
        callback_url = merchant.callback_url
    else:
        try:
            registered_endpoint(merchant, callback_url)
        except UnregisteredEndpoint:
            raise InvalidField("callback_url must be one of your registered webhook endpoints (the bank registers "
                               "them for you), or left out for your default one.", "callback_url") from None
    number = normalise_card_number(body.get("card_number") or "")
    if not (12 <= len(number) <= 19 and luhn_valid(number)):
        raise InvalidField("card_number is not a valid card number.", "card_number")
    card = db.session.scalar(select(Card).where(Card.number == number))
    if card is None:
        raise InvalidField("card_number does not belong to a Baobab Bank card.", "card_number")
    return card, callback_url


class ReferencePending(Conflict):
    """The merchant already has a pending request for this merchant_reference (a 409)."""
    code = "reference_pending"


class ReferencePaid(Conflict):
    """The merchant's request for this merchant_reference was already approved: it is paid (a 409)."""
    code = "reference_paid"


REFERENCE_PENDING_MESSAGE = ("A payment request for this merchant_reference is already pending: it must be approved, "
                             "declined, cancelled or expire before you request another.")


def request_payment(merchant, idempotency_key, body, ttl_seconds, app_url=None):
    """Create a pending payment request once per Idempotency-Key, and once at a time per merchant_reference.

    Returns (response_body, replayed). The same key with the same body answers
    the first response again and creates nothing; with another body it is a Conflict.
    While a request for the same merchant_reference is pending, another is a
    Conflict too: one order must never be payable twice (issue 8).
    A pending request's push messages (one per registered phone of the card holder,
    linking to `app_url`, the bank app) are written in the same commit: a crash
    can lose neither without the other.
    """
    if not idempotency_key or len(idempotency_key) > 255:
        raise InvalidField("The Idempotency-Key header is required (at most 255 characters).", "Idempotency-Key")
    fingerprint = _request_fingerprint(body)
    replay = _replay(merchant, idempotency_key, fingerprint)
    if replay is not None:
        return replay, True
    card, callback_url = _validate_payment_body(body, merchant)
    now = utcnow()
    try:
        _refuse_a_second_pending_request(merchant, body["merchant_reference"], now)
    except Conflict:  # perhaps the pending one is this very key's, committed by a concurrent twin
        replay = _replay(merchant, idempotency_key, fingerprint)
        if replay is not None:
            return replay, True
        raise
    payment = PaymentRequest(
        merchant=merchant, card=card, customer_id=card.customer_id, amount=body["amount"],
        currency="ZAR", merchant_reference=body["merchant_reference"], description=body.get("description", ""),
        callback_url=callback_url, binding_code=f"{secrets.randbelow(10000):04d}",
        expires_at=now + timedelta(seconds=ttl_seconds), created_at=now, trace_id=tracing.current_trace()[0])
    try:
        db.session.add(payment)
        db.session.flush()  # the partial unique index refuses a second pending request here
        if card.status != "active":
            _finish(payment, "declined", "card_blocked", now)  # recorded, like every decision, with its webhook
        else:
            queue_payment_push(payment, app_url or notify.bank_app_url())
            notify.payment_request_changed(payment, created=True)
        response = payment.to_api()
        db.session.add(IdempotencyRecord(merchant_id=merchant.id, key=idempotency_key, request_hash=fingerprint,
                                         payment_request_id=payment.id, response_body=json.dumps(response)))
        db.session.commit()
    except IntegrityError:  # a race: the same key (answer what it answered), or the same reference
        db.session.rollback()
        replay = _replay(merchant, idempotency_key, fingerprint)
        if replay is not None:
            return replay, True
        if _pending_requests_for_reference(merchant, body["merchant_reference"]):
            raise ReferencePending(REFERENCE_PENDING_MESSAGE) from None
        raise
    return response, False


def _pending_requests_for_reference(merchant, reference):
    return db.session.scalars(select(PaymentRequest).where(
        PaymentRequest.merchant_id == merchant.id, PaymentRequest.merchant_reference == reference,
        PaymentRequest.status == "pending")).all()


def _refuse_a_second_pending_request(merchant, reference, now):
    """Refuse a reference that is paid already; expire an overdue pending request for it; refuse if one
    is still pending. An order is paid once: never a second request beside or after an approved one."""
    if db.session.scalar(select(PaymentRequest.id).where(
            PaymentRequest.merchant_id == merchant.id, PaymentRequest.merchant_reference == reference,
            PaymentRequest.status == "approved")):
        raise ReferencePaid("A payment request for this merchant_reference was already approved: it is paid.")
    for payment in _pending_requests_for_reference(merchant, reference):
        expire_if_overdue(payment, now=now)
        if payment.status == "pending":
            raise ReferencePending(REFERENCE_PENDING_MESSAGE)


def _replay(merchant, key, fingerprint):
    record = db.session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.merchant_id == merchant.id, IdempotencyRecord.key == key))
    if record is None:
        return None
    if record.request_hash != fingerprint:
        raise Conflict("This Idempotency-Key was already used with a different request body.")
    return json.loads(record.response_body)


def payment_request_for_merchant(merchant, request_id):
    """The merchant's own request (others' are 'not found', not 'forbidden': no probing)."""
    payment = db.session.get(PaymentRequest, request_id)
    if payment is None or payment.merchant_id != merchant.id:
        raise NotFound("No payment request with this id.")
    return payment


def payment_request_for_customer(customer, request_id):
    """The customer's own request. A read: an overdue one reads as expired (`effective_status`), unchanged."""
    payment = db.session.get(PaymentRequest, request_id)
    if payment is None or payment.customer_id != customer.id:
        raise NotFound("No such payment request for you.")
    return payment


def pending_requests_for(customer, now=None):
    """The customer's requests still waiting for a decision: pending and not yet past their deadline."""
    return db.session.scalars(select(PaymentRequest).where(
        PaymentRequest.customer_id == customer.id, PaymentRequest.status == "pending",
        PaymentRequest.expires_at > (now or utcnow()))
        .order_by(PaymentRequest.created_at.desc())).all()


def recent_requests_for(customer, limit=10, now=None):
    """The customer's decided requests, and those overdue that the sweep has not stored as expired yet."""
    return db.session.scalars(select(PaymentRequest).where(
        PaymentRequest.customer_id == customer.id,
        (PaymentRequest.status != "pending") | (PaymentRequest.expires_at <= (now or utcnow())))
        .order_by(PaymentRequest.created_at.desc()).limit(limit)).all()


def _claim(payment, new_status, now, reason=None):
    """Move a pending request to `new_status` if, and only if, it is still pending (and, for a
    decision, unexpired). Returns whether this call moved it; if not, the transaction is rolled back.

    The conditional UPDATE is the race guard: of two concurrent approvals only
    one sees rowcount 1. On SQLite it is also the statement that takes the write lock.
    """
    conditions = [PaymentRequest.id == payment.id, PaymentRequest.status == "pending"]
    if new_status == "expired":
        conditions.append(PaymentRequest.expires_at <= now)
    else:
        conditions.append(PaymentRequest.expires_at > now)
    result = db.session.execute(
        update(PaymentRequest).where(*conditions)
        .values(status=new_status, decline_reason=reason, decided_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.rollback()
        db.session.refresh(payment)  # as it stands now, for the caller to say why
        return False
    # The UPDATE wrote exactly these: they become the loaded state without a SELECT to read them back
    # (a refresh would also unload the card and merchant the decision goes on to use, a query each).
    for name, value in (("status", new_status), ("decline_reason", reason), ("decided_at", now)):
        set_committed_value(payment, name, value)
    return True


def _refuse_unless_pending(payment, now):
    """A decision needs a pending request before its deadline: anything else is a Conflict that says why."""
    status = payment.status_at(max(now, utcnow()))
    if status == "expired":
        raise Conflict("This payment request has expired.")
    if status != "pending":
        raise Conflict(f"This payment request is already {status}.")


def _claim_for_decision(payment, new_status, now, reason=None):
    """Claim the request for a decision, or refuse as it stands now (decided meanwhile, or overdue)."""
    if not _claim(payment, new_status, now, reason=reason):
        _refuse_unless_pending(payment, now)
        raise Conflict("This payment request has expired.")  # still pending: the deadline refused it


def _finish(payment, status, reason, now):
    """Set a final status on a request this transaction owns, and queue the merchant's webhook."""
    payment.status, payment.decline_reason, payment.decided_at = status, reason, now
    db.session.flush()
    queue_webhook_event(payment)


def approve_payment_request(customer, request_id, pin, device_token, now=None):
    """The customer approves from a registered device (possession: its token) with their PIN (knowledge).

    Every factor is checked here, in this order: the request is the customer's, the
    device token is one of theirs (`devices.NotARegisteredDevice` otherwise, before any
    PIN try is spent), the request can still be decided, and the PIN is right.
    See `approve_payment_request_with_passkey` for the fingerprint.
    """
    payment = payment_request_for_customer(customer, request_id)
    devices.require_registered_device(customer, device_token)
    now = now or utcnow()
    _refuse_unless_pending(payment, now)
    if payment.card.status == "active":  # a blocked card is declined below, whatever the PIN
        try:
            cards.check_card_pin(payment.card, pin)
        except cards.CardLocked:  # this very attempt locked the card: the payment it was for is declined
            if _claim(payment, "declined", now, reason="card_blocked"):
                queue_webhook_event(payment)
                db.session.commit()
            raise
    return _move_the_money(payment, now)


def approve_payment_request_with_passkey(customer, request_id, credential, challenge, public_url, now=None):
    """The customer approves with a passkey: possession and inherence in one signed answer.

    The assertion (`credential`, as the browser returned it) is verified here against the
    customer's own stored key, the `challenge` the bank issued and the relying party of
    `public_url`, with user verification required (`passkeys.PasskeyError` otherwise).
    """
    payment = payment_request_for_customer(customer, request_id)
    now = now or utcnow()
    _refuse_unless_pending(payment, now)
    if not challenge:
        raise passkeys.PasskeyError("No fingerprint check was started for this approval.")
    passkeys.verify_passkey(customer, credential, challenge, public_url)
    return _move_the_money(payment, now)


def _move_the_money(payment, now):
    """Claim the request, then move the money, atomically."""
    _claim_for_decision(payment, "approved", now)
    # Lock the paying account: two requests against one balance must not both pass the check.
    account = db.session.execute(select(Account).where(Account.id == payment.card.account_id)
                                 .with_for_update()).scalar_one()
    if payment.card.status != "active":
        _finish(payment, "declined", "card_blocked", now)
    elif ledger.balance_of(account) < payment.amount:
        _finish(payment, "declined", "insufficient_funds", now)
    else:
        transfer = ledger.post_transfer("payment", f"{payment.merchant.name} · {payment.merchant_reference}",
                                        [(account, -payment.amount), (payment.merchant.account, payment.amount)],
                                        payment_request_id=payment.id)
        queue_webhook_event(payment)
        # Read for the walkthrough before the commit, while it is all loaded: afterwards every entry
        # and account would be loaded again, one query each, on the approval's path.
        entries = [{"account": entry.account.name, "account_number": entry.account.number, "amount": entry.amount,
                    "kind": entry.account.kind} for entry in transfer.entries]
        data = {"transfer_id": transfer.id, "description": transfer.description}
        posted_at = utcnow()  # before the commit: the webhook it releases is drawn after it
        db.session.commit()
        tracing.record_message("ledger", started_at=posted_at, entries=entries, data=data)
        return payment
    db.session.commit()
    return payment


def decline_payment_request(customer, request_id, now=None):
    payment = payment_request_for_customer(customer, request_id)
    now = now or utcnow()
    _claim_for_decision(payment, "declined", now, reason="customer_declined")
    queue_webhook_event(payment)
    db.session.commit()
    return payment


def cancel_payment_request(merchant, request_id, now=None):
    payment = payment_request_for_merchant(merchant, request_id)
    now = now or utcnow()
    _claim_for_decision(payment, "cancelled", now)
    queue_webhook_event(payment)
    db.session.commit()
    return payment


def expire_if_overdue(payment, now=None):
    """Store the expiry of this one request if it is overdue (a write path only: see the sweep)."""
    now = now or utcnow()
    if payment.status == "pending" and payment.expires_at <= now:
        expire_overdue_payment_requests(now, request_id=payment.id)
        db.session.refresh(payment)


def expire_overdue_payment_requests(now=None, customer_id=None, request_id=None):
    """The expiry sweep: store "expired" on every pending request past its deadline and queue its
    webhook; returns the expired ones. Commits. The only place an expiry is persisted (reads
    merely report it), apart from a new request for the same reference, which needs the old one gone."""
    now = now or utcnow()
    query = select(PaymentRequest.id).where(PaymentRequest.status == "pending", PaymentRequest.expires_at <= now)
    if customer_id is not None:
        query = query.where(PaymentRequest.customer_id == customer_id)
    if request_id is not None:
        query = query.where(PaymentRequest.id == request_id)
    expired = []
    for pid in db.session.scalars(query).all():
        payment = db.session.get(PaymentRequest, pid)
        if not _claim(payment, "expired", now):
            continue  # decided by someone else in the meantime
        queue_webhook_event(payment)
        db.session.commit()
        expired.append(payment)
    return expired


# --- webhooks outbox ------------------------------------------------------------

def queue_webhook_event(payment):
    """Put the merchant's notification of a final status in the outbox, in the caller's transaction,
    and record the change for the after-commit dispatcher (notify): every decision passes here."""
    event_id = new_id("evt")
    body = json.dumps({"id": event_id, "type": f"payment_request.{payment.status}", "created": int(time.time()),
                       "data": payment.to_api()}, separators=(",", ":"))
    event = WebhookEvent(id=event_id, merchant_id=payment.merchant_id, payment_request_id=payment.id,
                         type=f"payment_request.{payment.status}", url=payment.callback_url, body=body)
    db.session.add(event)
    notify.payment_request_changed(payment)  # the bank app hears it once this commits
    notify.webhook_queued(event, payment)  # and the merchant: at once, by this process's worker if it can
    return event

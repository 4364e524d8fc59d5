"""The shop's domain logic: cart, orders and payments, with no request context.

The cart is a plain dict {slug: quantity} (kept in the shop session by the
views); totals are always computed here from the products table.
"""
import json
import re
import secrets

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..common import tracing
from ..common.errors import DomainError
from ..common.security import luhn_valid, normalise_card_number
from ..extensions import db
from .bank_client import BankRejected, BankUnavailable
from .catalogue import DELIVERY_METHODS, PRODUCTS
from .models import Order, OrderLine, PaymentAttempt, Product, ReceivedWebhook

# What new_payment_token makes (URL-safe, 32 characters), with room: the order's checkout token, which is
# also the bank's Idempotency-Key header, so nothing outside this alphabet may come back in its place.
PAYMENT_TOKEN_FORMAT = re.compile(r"[A-Za-z0-9_-]{16,64}")

MAX_QUANTITY = 10
# "refused" is the shop's own: the bank refused to create the request (a card it does not know …).
FINAL_PAYMENT_STATUSES = ("approved", "declined", "expired", "cancelled", "refused")
ORDER_STATUS_FOR_PAYMENT = {"pending": "payment_pending", "approved": "paid", "declined": "payment_failed",
                            "expired": "payment_failed", "cancelled": "cancelled"}
STATUS_MESSAGES = {
    "requesting": "Asking the bank…",
    "pending": "Approve the payment in your banking app.",
    "approved": "Payment approved. Thank you! Your order is on its way.",
    "declined": "The payment was declined.",
    "expired": "The approval time ran out before the payment was approved.",
    "cancelled": "You cancelled this payment. Nothing was charged.",
    "error": "We could not reach the bank. Nothing was charged; please try again.",
}
DECLINE_MESSAGES = {"customer_declined": "You declined it in your banking app.",
                    "insufficient_funds": "The account does not have enough money.",
                    "card_blocked": "The card is blocked."}
FINAL_STEP_LABELS = {"approved": "Approved", "declined": "Declined", "expired": "Expired", "cancelled": "Cancelled"}


class ShopError(DomainError):
    """The shop refuses (an empty cart, a card number with a typo …)."""


# --- catalogue and cart ------------------------------------------------------

def seed_products():
    """Load the catalogue: insert new products, update changed ones (idempotent)."""
    for slug, name, price, description in PRODUCTS:
        product = db.session.scalar(select(Product).where(Product.slug == slug))
        if product is None:
            db.session.add(Product(slug=slug, name=name, price=price, description=description))
        else:
            product.name, product.price, product.description = name, price, description
    db.session.commit()


def list_products():
    return db.session.scalars(select(Product).order_by(Product.id)).all()


def get_product(slug):
    return db.session.scalar(select(Product).where(Product.slug == slug))


def set_cart_quantity(cart, slug, quantity):
    """Return a new cart with `slug` at `quantity` (0 removes it)."""
    if get_product(slug) is None:
        raise ShopError("That product does not exist.")
    if not 0 <= quantity <= MAX_QUANTITY:
        raise ShopError(f"You can order 1 to {MAX_QUANTITY} of each product.")
    cart = dict(cart)
    if quantity:
        cart[slug] = quantity
    else:
        cart.pop(slug, None)
    return cart


def add_to_cart(cart, slug, quantity=1):
    return set_cart_quantity(cart, slug, min(MAX_QUANTITY, int(cart.get(slug, 0)) + quantity))


def cart_summary(cart, delivery_method=None):
    """Lines, subtotal, delivery fee and total for a cart, priced from the database."""
    products = {p.slug: p for p in db.session.scalars(select(Product).where(Product.slug.in_(list(cart)))).all()}
    lines = [{"product": products[slug], "quantity": int(qty), "line_total": products[slug].price * int(qty)}
             for slug, qty in cart.items() if slug in products]
    subtotal = sum(line["line_total"] for line in lines)
    fee = DELIVERY_METHODS[delivery_method][2] if delivery_method in DELIVERY_METHODS else 0
    return {"lines": lines, "count": sum(line["quantity"] for line in lines), "subtotal": subtotal,
            "delivery_fee": fee, "total": subtotal + fee}


DEFAULT_DELIVERY_METHOD = "standard"  # preselected at the delivery step, so already in its total


def delivery_options(cart):
    """{method: {fee, total}}: what the delivery step's summary shows for each method, as it is chosen."""
    subtotal = cart_summary(cart)["subtotal"]
    return {method: {"fee": fee, "total": subtotal + fee} for method, (_, _, fee) in DELIVERY_METHODS.items()}


# --- orders and payments --------------------------------------------------------

def place_order(user, shopper_id, checkout_token, cart, delivery_method, address):
    """Create the user's order for a checkout once: a second submit of the same checkout returns the same order."""
    existing = order_by_checkout_token(user, checkout_token)
    if existing:
        return existing
    summary = cart_summary(cart, delivery_method)
    if not summary["lines"]:
        raise ShopError("Your cart is empty.")
    if delivery_method not in DELIVERY_METHODS:
        raise ShopError("Choose a delivery method.")
    order = Order(user_id=user.id, shopper_id=shopper_id, checkout_token=checkout_token, email=user.email,
                  journey_id=tracing.current_trace()[0],
                  delivery_method=delivery_method, delivery_fee=summary["delivery_fee"],
                  address_json=json.dumps(address), subtotal=summary["subtotal"], total=summary["total"])
    for line in summary["lines"]:
        order.lines.append(OrderLine(product_slug=line["product"].slug, name=line["product"].name,
                                     unit_price=line["product"].price, quantity=line["quantity"]))
    db.session.add(order)
    try:
        db.session.commit()
    except IntegrityError:  # the same checkout submitted twice at once
        db.session.rollback()
        return order_by_checkout_token(user, checkout_token)
    return order


def order_by_checkout_token(user, token):
    """The user's order of this checkout, or None: a token the shop cannot have made names no order
    (and never reaches the query: PostgreSQL answers a NUL in it with an error, not a miss)."""
    if not isinstance(token, str) or not PAYMENT_TOKEN_FORMAT.fullmatch(token):
        return None
    return db.session.scalar(select(Order).where(Order.checkout_token == token, Order.user_id == user.id))


def order_for_user(user, order_id):
    """The user's own order, or None: another customer's order does not exist for them."""
    if not 0 < order_id < 2**63:  # no row id is that big, and SQLite cannot even compare with it (a 500)
        return None
    order = db.session.get(Order, order_id)
    return order if order is not None and order.user_id == user.id else None


def orders_for_user(user):
    return db.session.scalars(select(Order).where(Order.user_id == user.id)
                              .order_by(Order.created_at.desc())).all()


def validate_card_number(text):
    number = normalise_card_number(text)
    if not number.isdigit() or not 12 <= len(number) <= 19:
        raise ShopError("Enter the card number shown in your banking app (12 to 19 digits).", "card_number")
    if not luhn_valid(number):
        raise ShopError("That card number has a typo: its check digit does not match.", "card_number")
    return number


def can_pay(order):
    payment = order.payment
    return order.status != "paid" and order.status != "cancelled" and (
        payment is None or payment.status in ("declined", "expired", "error", "refused"))


PAYABLE_ORDER_STATUSES = ("awaiting_payment", "payment_failed")


def request_payment(order, card_number, idempotency_key, bank, callback_url):
    """Ask the bank to have the card holder approve this order, once per idempotency key.

    A double click or a second tab of the same checkout sends the same key, so
    the bank creates one request. Two tabs of the order page (two keys) race for
    the order itself: a conditional UPDATE lets exactly one of them ask the bank,
    so one order never has two payments waiting. If the bank cannot be reached,
    the attempt is kept as "error" and a retry reuses its key: had the bank
    created the request after all, it answers with it. If the bank refuses the
    request itself (a card it does not know), the attempt is kept as "refused"
    and the order's payment has failed: nobody waits for an approval that
    cannot come, and another card can be tried.
    """
    number = validate_card_number(card_number)
    attempt = _attempt_for_key(idempotency_key)
    if attempt is not None and attempt.order_id != order.id:
        raise ShopError("This payment form belongs to another order.")
    if attempt is not None and attempt.status != "error":
        return attempt  # already sent: a double submit changes nothing
    if attempt is None and not can_pay(order):
        raise ShopError("This order cannot be paid now.")
    status_before = order.status
    if not _claim_order_for_payment(order):
        attempt = _attempt_for_key(idempotency_key)  # the same checkout, submitted twice at once
        if attempt is not None and attempt.order_id == order.id:
            return attempt
        raise ShopError("This order is already being paid (in another tab?). Its page shows how it went.")
    if attempt is None:
        errored = order.payment if order.payment and order.payment.status == "error" else None
        attempt = errored or PaymentAttempt(order=order, idempotency_key=idempotency_key, card_last4=number[-4:])
        db.session.add(attempt)  # an errored attempt is retried with its own key
    retrying_unknown_outcome = attempt.status == "error"
    attempt.card_last4 = number[-4:]
    attempt.status = "requesting"
    db.session.commit()  # the claim and the attempt together, before the bank is called
    body = {"amount": order.total, "currency": "ZAR", "card_number": number, "merchant_reference": order.reference,
            "description": f"Veldt Market order {order.id}", "callback_url": callback_url}
    try:
        bank_answer = bank.create_payment_request(body, attempt.idempotency_key)
    except BankUnavailable as exc:
        attempt.status, attempt.error = "error", str(exc)[:300]
        order.status = "awaiting_payment"
        db.session.commit()
        return attempt
    except BankRejected as exc:
        if exc.status == 409 and exc.code in ("reference_pending", "reference_paid"):
            # The bank holds a request for this order that we never heard of (its answer was lost), pending
            # or even approved. Never a second one beside it: the attempt stays "error", so the request's
            # webhook is adopted, and the shopper may try again once it is decided or expired.
            attempt.status, attempt.error = "error", exc.message[:300]
            order.status = status_before
            db.session.commit()
            if exc.code == "reference_paid":
                raise ShopError("Your bank says this order is paid already. This page shows it as soon as the "
                                "bank's confirmation arrives.") from None
            raise ShopError("A payment for this order may already be waiting in your banking app. Approve it "
                            "there, or wait for it to expire, then try again.") from None
        if exc.status == 409 and retrying_unknown_outcome:
            # A retry of an unknown outcome with another card: the old key was for the other card.
            # Ask again with a new key; if the lost request exists and is pending, the bank refuses (above).
            db.session.rollback()  # nothing unsaved: read afresh what a webhook may have written meanwhile
            if attempt.status != "requesting":  # a webhook adopted the lost request meanwhile
                return attempt
            attempt.idempotency_key, attempt.status = new_payment_token(), "error"
            order.status = status_before
            db.session.commit()
            return request_payment(order, card_number, attempt.idempotency_key, bank, callback_url)
        if exc.status in (409, 422):
            # The bank refused the request itself (a card it does not know, say): nobody was asked to approve
            # anything, and nobody will be. The order says the payment failed and waits for another card.
            attempt.status, attempt.error = "refused", exc.message[:300]
            order.status = "payment_failed"
            db.session.commit()
            return attempt
        db.session.delete(attempt)
        order.status = status_before  # nothing was asked of the card holder: the order is as it was
        db.session.commit()
        raise ShopError(f"The bank refused: {exc.message}", "card_number") from None
    apply_payment_update(bank_answer, attempt=attempt)
    return attempt


def _attempt_for_key(idempotency_key):
    return db.session.scalar(select(PaymentAttempt).where(PaymentAttempt.idempotency_key == idempotency_key))


def _claim_order_for_payment(order):
    """Move a payable order to payment_pending, if and only if nobody else just did (the race guard)."""
    result = db.session.execute(update(Order).where(Order.id == order.id,
                                                    Order.status.in_(PAYABLE_ORDER_STATUSES))
                                .values(status="payment_pending").execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.rollback()
        db.session.refresh(order)
        return False
    db.session.refresh(order)
    return True


def new_payment_token():
    return secrets.token_urlsafe(24)  # 32 characters of PAYMENT_TOKEN_FORMAT


def apply_payment_update(payment_request, attempt=None, commit=True):
    """Bring an attempt and its order in line with the bank's view of a payment request.

    Used for the first answer, for webhooks and for polling alike. A final
    status never changes again, so out-of-order or repeated news is harmless.
    Returns the order if anything changed, else None. Commits (unless the caller will).
    """
    if attempt is None:
        attempt = db.session.scalar(select(PaymentAttempt).where(
            PaymentAttempt.bank_payment_request_id == payment_request.get("id")))
    if attempt is None:
        # Not known by id: the bank may have created it although its answer was lost (a timeout).
        # Its merchant_reference names the order; if the order's latest attempt is still without a
        # bank id, this is the request it asked for: adopt it, so moved money never leaves it unpaid.
        reference = payment_request.get("merchant_reference")
        order_id = reference.removeprefix("order-") if isinstance(reference, str) else ""
        known = reference != order_id and order_id.isascii() and order_id.isdigit() and len(order_id) <= 18
        order = db.session.get(Order, int(order_id)) if known else None
        attempt = order.payment if order is not None else None
        if (attempt is None or attempt.bank_payment_request_id is not None
                or attempt.status not in ("error", "requesting") or payment_request.get("amount") != order.total
                or len(payment_request["id"]) > 40):
            return None
    status = payment_request.get("status")
    if status not in ORDER_STATUS_FOR_PAYMENT or attempt.status in FINAL_PAYMENT_STATUSES:
        return None
    changed = attempt.status != status or attempt.bank_payment_request_id is None
    attempt.bank_payment_request_id = payment_request["id"]
    attempt.status = status
    attempt.error = None
    attempt.binding_code = payment_request.get("binding_code")
    attempt.expires_at = payment_request.get("expires_at")
    attempt.decline_reason = payment_request.get("decline_reason")
    attempt.card_last4 = payment_request.get("card_last4") or attempt.card_last4  # an adopted one: its card
    order = attempt.order
    if attempt is order.payment and order.status not in ("paid", "cancelled"):
        order.status = ORDER_STATUS_FOR_PAYMENT[status]
    if commit:
        db.session.commit()
    return order if changed else None


def apply_bank_webhook(event_id, event_type, payment_request):
    """The bank's webhook, applied once, in one transaction: the event id remembered (even when it changes
    nothing) and the order brought in line. Returns (duplicate, announcement): `announcement` is the
    (user id, `order_status` payload) to send if the order changed, else None. Commits.

    The payload is built before the commit, while the order and its attempts are loaded: after it they
    would be loaded again, on the path that turns the learner's laptop to paid.
    """
    if not record_webhook_event(event_id, event_type):
        return True, None
    order = apply_payment_update(payment_request, commit=False)
    announcement = (order.user_id, order_status_payload(order)) if order is not None else None
    db.session.commit()
    return False, announcement


def record_webhook_event(event_id, event_type):
    """Remember an event id; False if it was seen before (in this transaction's caller)."""
    if db.session.scalar(select(ReceivedWebhook.id).where(ReceivedWebhook.event_id == event_id)):
        return False
    db.session.add(ReceivedWebhook(event_id=event_id, type=event_type))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def refresh_payment_from_bank(order, bank):
    """Ask the bank about a pending attempt (the polling fallback); returns the order if it changed."""
    attempt = order.payment
    if attempt is None or attempt.status != "pending" or not attempt.bank_payment_request_id:
        return None
    try:
        return apply_payment_update(bank.get_payment_request(attempt.bank_payment_request_id), attempt=attempt)
    except (BankUnavailable, BankRejected):
        return None  # keep showing what we know; the webhook will still come


class TooLateToCancel(ShopError):
    """The bank decided the payment before the cancel reached it; `changed` says whether the order
    learnt that decision here (then the caller announces it: the webhook will find nothing new)."""

    def __init__(self, message, changed):
        super().__init__(message)
        self.changed = changed


def cancel_payment(order, bank):
    """The shopper cancels while waiting: the bank cancels the request, then the order follows.

    Returns whether the order changed here. The bank's webhook for the cancel may arrive first
    (and announce it): then nothing changes here, and the change is announced once, not twice.
    """
    attempt = order.payment
    if attempt is None or attempt.status != "pending":
        raise ShopError("There is no payment waiting to be cancelled.")
    request_id = attempt.bank_payment_request_id
    # No transaction stays open across the call: what the bank's webhook writes meanwhile must be
    # seen afterwards (the attempt reloads), or a cancel it already announced would look new here.
    db.session.commit()
    try:
        answer = bank.cancel_payment_request(request_id)
    except BankRejected as exc:
        if exc.status == 409:  # decided meanwhile: show what the bank decided
            changed = refresh_payment_from_bank(order, bank) is not None
            raise TooLateToCancel("Too late to cancel: the bank already decided this payment.", changed) from None
        raise ShopError(exc.message) from None
    except BankUnavailable as exc:
        raise ShopError(f"{exc} Try again in a moment.") from None
    return apply_payment_update(answer, attempt=attempt) is not None


def payment_steps(payment_status):
    """The order page's stepper after "Order placed": the approval step and the outcome, as {state, label}.

    A state is the steps' CSS classes: "current" only while an approval is really awaited,
    never for an order that nobody has been asked to approve.
    """
    waiting = {"state": "", "label": "Approve in your banking app"}
    final = {"state": "", "label": "Approved"}
    if payment_status in ("requesting", "pending"):
        waiting = {"state": "current", "label": "Waiting for approval"}
    elif payment_status == "refused":
        waiting = {"state": "bad", "label": "Card refused"}
        final = {"state": "done bad", "label": "Payment failed"}
    elif payment_status in FINAL_STEP_LABELS:
        waiting = {"state": "done", "label": "Waiting for approval"}
        final = {"state": "done ok" if payment_status == "approved" else "done bad",
                 "label": FINAL_STEP_LABELS[payment_status]}
    return {"waiting": waiting, "final": final}


def _status_message(payment):
    """The order page's sentence about its latest payment attempt."""
    status = payment.status if payment else None
    message = STATUS_MESSAGES.get(status, "Pay for your order to complete it.")
    if status == "declined" and payment.decline_reason in DECLINE_MESSAGES:
        message = f"{message} {DECLINE_MESSAGES[payment.decline_reason]}"
    if status == "refused":
        said = f" (the bank said: {payment.error.rstrip('.')})" if payment.error else ""
        message = (f"Payment failed: Baobab Bank refused the card ending in {payment.card_last4}{said}. "
                   "Nothing was charged. Try another card.")
    return message


def order_status_payload(order):
    """The `order_status` event, as the contract in DESIGN.md §4 describes it (and the page's stepper)."""
    payment = order.payment
    payment_status = payment.status if payment else None
    return {"order_id": order.id, "status": order.status, "message": _status_message(payment),
            "journey": order.journey_id,
            "payment": {"status": payment_status, "binding_code": payment.binding_code if payment else None,
                        "expires_at": payment.expires_at if payment else None,
                        "decline_reason": payment.decline_reason if payment else None,
                        "card_last4": payment.card_last4 if payment else None},
            "can_pay": can_pay(order), "steps": payment_steps(payment_status)}

"""The card and its PIN: the knowledge factor, checked in one place for every door that asks for it.

Approving a payment, registering a device and setting up a fingerprint all come
to `check_card_pin`; five wrong PINs in a row lock the card for all of them.
"""
import secrets

from sqlalchemy import delete, select, update

from ..common.security import luhn_check_digit, normalise_card_number
from ..extensions import db
from .errors import BankError, InvalidField, NotFound
from .models import Card, Device, Passkey, utcnow

CARD_PREFIX = "400012"  # the bank's BIN: every Baobab card starts with it


class WrongPin(BankError):
    status, code, factor = 403, "wrong_pin", "knowledge:pin"


class CardLocked(BankError):
    status, code, factor = 403, "card_locked", "knowledge:pin"


MAX_PIN_ATTEMPTS = 5
LOCKED_MESSAGE = ("Your card is locked after 5 wrong PINs in a row. Until the bank unlocks it, no PIN is "
                  "accepted and no payment can be approved: ask the bank to unlock it.")


class PinMissing(InvalidField):
    """No PIN was typed: nothing was checked, so nothing counts against the card."""
    code, factor = "pin_required", "knowledge:pin"


def check_card_pin(card, pin):
    """The one PIN check (approval, device registration, fingerprint set-up all come here).

    A wrong PIN's count is committed at once, whatever the caller does next; a right PIN's reset of
    the count is left to the caller's transaction.

    A locked card refuses every PIN with the same answer, right or wrong, and a
    right PIN never resets the count of a locked card: otherwise the answer
    itself tells a guesser which PIN is right. Failures are counted in SQL,
    so concurrent guesses cannot slip past the fifth.
    """
    if not pin:
        raise PinMissing("Enter your PIN.", "pin")
    if card is None:
        raise NotFound("You have no card with the bank.")
    db.session.refresh(card)
    if card.status != "active":
        raise CardLocked(LOCKED_MESSAGE)
    if card.customer.check_pin(pin):
        # Conditional: a lock that landed meanwhile (another guess) is never undone by this one. Not
        # committed here: the reset joins the caller's transaction (the approval's, the registration's),
        # so an approval is one commit, and no lock can land on the card before what the PIN unlocks is
        # committed (the UPDATE holds SQLite's write lock, or PostgreSQL's row lock, until then).
        result = db.session.execute(update(Card).where(Card.id == card.id, Card.status == "active")
                                    .values(failed_pin_attempts=0))
        if result.rowcount == 1:
            return
        db.session.rollback()
        raise CardLocked(LOCKED_MESSAGE)
    db.session.execute(update(Card).where(Card.id == card.id)
                       .values(failed_pin_attempts=Card.failed_pin_attempts + 1))
    db.session.execute(update(Card).where(Card.id == card.id, Card.status == "active",
                                          Card.failed_pin_attempts >= MAX_PIN_ATTEMPTS)
                       .values(status="blocked", locked_at=utcnow()))
    db.session.commit()
    db.session.refresh(card)
    if card.status != "active":
        raise CardLocked("Wrong PIN. " + LOCKED_MESSAGE)
    left = MAX_PIN_ATTEMPTS - card.failed_pin_attempts
    raise WrongPin(f"Wrong PIN. {left} {'try' if left == 1 else 'tries'} left before the card locks.")


def unlock_card(card_number):
    """The bank's back office unlocks a card (after checking who is calling). Commits.

    Whatever was added to the customer's factors while the card was locked (a
    device, a fingerprint) is removed: it may be the guesser's, and the customer
    registers their own again with the PIN.
    """
    card = db.session.scalar(select(Card).where(Card.number == normalise_card_number(card_number or "")))
    if card is None:
        raise NotFound("No card with that number.")
    removed = 0
    if card.locked_at is not None:
        for model in (Device, Passkey):
            removed += db.session.execute(delete(model).where(model.customer_id == card.customer_id,
                                                              model.created_at >= card.locked_at)).rowcount
    card.status, card.failed_pin_attempts, card.locked_at = "active", 0, None
    db.session.commit()
    card.factors_removed = removed
    return card


def new_card_number():
    body = CARD_PREFIX + "".join(secrets.choice("0123456789") for _ in range(9))
    return body + luhn_check_digit(body)


def customer_card(customer):
    return customer.cards[0] if customer.cards else None

"""Double-entry bookkeeping: every transfer is balanced entries, every balance a sum.

Nothing here commits: the caller's transaction makes a transfer and whatever
caused it (an approved payment) succeed or fail together.
"""
import secrets

from sqlalchemy import func, select

from ..extensions import db
from .models import Account, LedgerEntry, Transfer, utcnow

BANK_CAPITAL_ACCOUNT = "0000000001"
BANK_FUNDING_ACCOUNT = "0000000002"


class UnbalancedTransfer(ValueError):
    pass


def post_transfer(kind, description, legs, payment_request_id=None, at=None):
    """Record a transfer whose legs [(account, amount_cents), ...] sum to zero, posted `at` (now by default)."""
    if len(legs) < 2 or sum(amount for _, amount in legs) != 0 or any(a == 0 for _, a in legs):
        raise UnbalancedTransfer(f"legs must be non-zero and sum to zero: {legs!r}")
    legs = [(account.id, amount) for account, amount in legs]  # load ids before anything is pending
    at = at or utcnow()
    transfer = Transfer(kind=kind, description=description, payment_request_id=payment_request_id, created_at=at)
    db.session.add(transfer)
    for account_id, amount in legs:
        db.session.add(LedgerEntry(transfer=transfer, account_id=account_id, amount=amount, created_at=at))
    db.session.flush()
    return transfer


def balance_of(account):
    """The account's balance: the sum of its entries."""
    total = db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))
                              .where(LedgerEntry.account_id == account.id))
    return int(total)


def entries_of(account, limit=50):
    """The account's latest entries, newest first, with their transfers."""
    return db.session.scalars(select(LedgerEntry).where(LedgerEntry.account_id == account.id)
                              .order_by(LedgerEntry.id.desc()).limit(limit)).all()


def new_account_number():
    return "62" + "".join(secrets.choice("0123456789") for _ in range(8))


def open_account(kind, name, customer=None):
    account = Account(kind=kind, name=name, number=new_account_number(), customer=customer)
    db.session.add(account)
    db.session.flush()
    return account


def bank_capital_account():
    """The bank's own equity account: opening deposits are paid out of it."""
    return _bank_account(BANK_CAPITAL_ACCOUNT, "Baobab Bank capital")


def bank_funding_account():
    """The bank's account that "Add funds" pays out of: the demo money customers top up with."""
    return _bank_account(BANK_FUNDING_ACCOUNT, "Baobab Bank demo funding")


def _bank_account(number, name):
    """One of the bank's own accounts, opened the first time it is needed."""
    account = db.session.scalar(select(Account).where(Account.number == number))
    if account is None:
        account = Account(kind="bank", name=name, number=number)
        db.session.add(account)
        db.session.flush()
    return account

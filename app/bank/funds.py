"""Add funds: a customer tops up their own account with the bank's demo money, within a daily limit.

The demo starts everyone with a few thousand rand, which runs out after a handful of
orders. A top-up is a transfer like any other: balanced entries from the bank's funding
account to the customer's, shown in the account's history. The limit is read from the
ledger itself (the customer's top-ups in the last 24 hours), so it needs no table of its own.
"""
from datetime import timedelta

from sqlalchemy import func, select, update

from ..common import tracing
from ..common.money import format_money
from ..extensions import db
from . import ledger
from .errors import InvalidField
from .models import Account, LedgerEntry, Transfer, utcnow

ADD_FUNDS_KIND = "add_funds"
ADD_FUNDS_DESCRIPTION = "Funds added"
WINDOW = timedelta(hours=24)


def _top_ups_within_a_day(account, now):
    return (select(LedgerEntry.amount, Transfer.created_at).join(Transfer)
            .where(LedgerEntry.account_id == account.id, Transfer.kind == ADD_FUNDS_KIND,
                   Transfer.created_at > now - WINDOW))


def added_within_a_day(customer, now=None):
    """Cents the customer added in the 24 hours before `now`: the sum of their top-up entries."""
    query = _top_ups_within_a_day(customer.account, now or utcnow()).subquery()
    return int(db.session.scalar(select(func.coalesce(func.sum(query.c.amount), 0))))


def allowance_left(customer, daily_limit, now=None):
    """Cents the customer may still add now."""
    return max(0, daily_limit - added_within_a_day(customer, now))


def add_funds(customer, amount, daily_limit, now=None):
    """Move `amount` cents from the bank's funding account to the customer's, within `daily_limit`
    cents per rolling 24 hours. Commits; returns the transfer. Refuses with InvalidField("amount").

    Two top-ups at once are counted one after the other: the customer's account row is
    written first (on SQLite, the write lock; elsewhere, the row lock), before the limit is read.
    """
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise InvalidField(f"Enter an amount above {format_money(0)}.", "amount")
    now = now or utcnow()
    account = customer.account
    db.session.execute(update(Account).where(Account.id == account.id).values(kind=Account.kind)
                       .execution_options(synchronize_session=False))
    added = added_within_a_day(customer, now)
    if added + amount > daily_limit:
        db.session.rollback()
        raise InvalidField(_over_the_limit(customer, daily_limit, added, now), "amount")
    transfer = ledger.post_transfer(ADD_FUNDS_KIND, ADD_FUNDS_DESCRIPTION,
                                    [(ledger.bank_funding_account(), -amount), (account, amount)], at=now)
    db.session.commit()
    if tracing.current_trace()[0]:  # drawn in a journey's walkthrough if there is one; never one of its own
        tracing.record_message("ledger", started_at=now, entries=[
            {"account": entry.account.name, "account_number": entry.account.number, "amount": entry.amount,
             "kind": entry.account.kind} for entry in transfer.entries],
            data={"transfer_id": transfer.id, "description": transfer.description})
    return transfer


def _over_the_limit(customer, daily_limit, added, now):
    """Why a top-up is refused, and what the customer can do instead."""
    if daily_limit <= 0:
        return "This bank does not add funds at the moment: no amount can be added."
    said = f"You can add up to {format_money(daily_limit)} in 24 hours"
    left = daily_limit - added
    if left > 0:
        return f"{said} and have added {format_money(added)}: add at most {format_money(left)} now."
    oldest = min(at for _, at in db.session.execute(_top_ups_within_a_day(customer.account, now)))
    return f"{said} and have added all of it: try again after {oldest + WINDOW:%d %b, %H:%M} UTC."

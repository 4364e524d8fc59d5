"""The ledger: balanced transfers only, entries that never change, balances that are sums."""
import pytest
from sqlalchemy import func, select

from app.bank import ledger, services
from app.bank.models import Account, LedgerEntry, LedgerImmutableError, Transfer
from app.extensions import db

def _two_accounts():
    """Two fresh accounts, flushed (not committed) so their ids are loaded."""
    return ledger.open_account("customer", "Test A"), ledger.open_account("merchant", "Test B")


def _count(model):
    return db.session.scalar(select(func.count(model.id)))


def test_balanced_transfer_writes_entries_that_sum_to_zero(app):
    a, b = _two_accounts()
    c = ledger.open_account("merchant", "Test C")
    transfer = ledger.post_transfer("payment", "three legs", [(a, -700), (b, 500), (c, 200)])
    db.session.commit()

    entries = db.session.scalars(select(LedgerEntry).where(LedgerEntry.transfer_id == transfer.id)).all()
    assert sorted((e.account_id, e.amount) for e in entries) == sorted([(a.id, -700), (b.id, 500), (c.id, 200)])
    assert sum(e.amount for e in entries) == 0
    assert (ledger.balance_of(a), ledger.balance_of(b), ledger.balance_of(c)) == (-700, 500, 200)


BAD_LEGS = [
    [(-100, "a"), (99, "b")],             # does not sum to zero
    [(100, "a"), (100, "b")],             # both credits
    [(0, "a"), (0, "b")],                 # zero legs sum to zero but move nothing
    [(-100, "a"), (100, "b"), (0, "a")],  # one zero leg among balanced ones
    [(0, "a")],                           # a single leg
    [],                                   # no legs at all
]


def test_unbalanced_or_zero_legs_are_refused_and_write_nothing(app):
    a, b = _two_accounts()
    accounts = {"a": a, "b": b}
    transfers, entries = _count(Transfer), _count(LedgerEntry)
    for legs in BAD_LEGS:
        with pytest.raises(ledger.UnbalancedTransfer):
            ledger.post_transfer("payment", "bad", [(accounts[name], amount) for amount, name in legs])
    db.session.commit()
    assert (_count(Transfer), _count(LedgerEntry)) == (transfers, entries)
    assert ledger.balance_of(a) == ledger.balance_of(b) == 0


def _posted_transfer():
    a, b = _two_accounts()
    transfer = ledger.post_transfer("payment", "to keep", [(a, -1234), (b, 1234)])
    db.session.commit()
    return a, b, transfer


def test_an_entry_cannot_be_updated(app):
    a, b, transfer = _posted_transfer()
    entry = transfer.entries[0]
    entry.amount = 999999
    with pytest.raises(LedgerImmutableError):
        db.session.flush()
    db.session.rollback()
    assert ledger.balance_of(a) == -1234 and ledger.balance_of(b) == 1234


def test_an_entry_cannot_be_deleted(app):
    a, b, transfer = _posted_transfer()
    db.session.delete(transfer.entries[1])
    with pytest.raises(LedgerImmutableError):
        db.session.commit()
    db.session.rollback()
    assert ledger.balance_of(b) == 1234
    assert len(db.session.get(Transfer, transfer.id).entries) == 2


def test_a_transfer_cannot_be_updated(app):
    _, _, transfer = _posted_transfer()
    transfer.description = "rewritten history"
    with pytest.raises(LedgerImmutableError):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(Transfer, transfer.id).description == "to keep"


def test_a_transfer_cannot_be_deleted(app):
    _, _, transfer = _posted_transfer()
    transfer_id = transfer.id
    db.session.delete(transfer)
    with pytest.raises(LedgerImmutableError):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(Transfer, transfer_id) is not None


def test_balance_is_the_sum_of_the_accounts_entries(app):
    a, b = _two_accounts()
    assert ledger.balance_of(a) == 0
    for amount in (500, 250, -125, 10_000):
        ledger.post_transfer("payment", f"move {amount}", [(a, amount), (b, -amount)])
    db.session.commit()
    for account in (a, b):
        direct = db.session.scalar(select(func.sum(LedgerEntry.amount)).where(LedgerEntry.account_id == account.id))
        assert ledger.balance_of(account) == direct
    assert ledger.balance_of(a) == 10_625
    assert ledger.balance_of(b) == -10_625
    # and the whole ledger sums to zero
    assert db.session.scalar(select(func.sum(LedgerEntry.amount))) == 0


def test_opening_deposit_balances_against_bank_capital(app):
    capital = ledger.bank_capital_account()
    capital_before = ledger.balance_of(capital)
    transfers_before = _count(Transfer)

    customer = services.create_customer("ledger-learner", "long-enough-pw", "4321", 123_456)

    assert ledger.balance_of(customer.account) == 123_456
    assert ledger.balance_of(capital) == capital_before - 123_456
    assert _count(Transfer) == transfers_before + 1
    transfer = db.session.scalars(select(Transfer).order_by(Transfer.id.desc())).first()
    assert transfer.kind == "opening_deposit"
    assert sorted((e.account_id, e.amount) for e in transfer.entries) == sorted(
        [(capital.id, -123_456), (customer.account.id, 123_456)])
    # the capital account is the one well-known account, not a new one each time
    assert capital.number == ledger.BANK_CAPITAL_ACCOUNT
    assert db.session.scalar(select(func.count(Account.id)).where(
        Account.number == ledger.BANK_CAPITAL_ACCOUNT)) == 1


def test_post_transfer_accepts_accounts_loaded_in_an_earlier_transaction(app):
    """Accounts read before a commit are expired; using them must still post a normal transfer.

    Touching an expired account's id autoflushes mid-transfer; the immutability guard
    must not mistake "a new entry was added to my collection" for "a posted transfer changed".
    """
    a, b = _two_accounts()
    db.session.commit()  # expires a and b, as any earlier request step would
    transfer = ledger.post_transfer("payment", "after a commit", [(a, -300), (b, 300)])
    db.session.commit()
    assert sorted(e.amount for e in transfer.entries) == [-300, 300]
    assert (ledger.balance_of(a), ledger.balance_of(b)) == (-300, 300)


def test_zero_opening_balance_posts_no_transfer(app):
    before = _count(Transfer)
    customer = services.create_customer("ledger-zero", "long-enough-pw", "4321", 0)
    assert ledger.balance_of(customer.account) == 0
    assert _count(Transfer) == before


def test_negative_opening_balance_is_refused(app):
    with pytest.raises(services.InvalidField) as caught:
        services.create_customer("ledger-neg", "long-enough-pw", "4321", -1)
    assert caught.value.field == "balance"

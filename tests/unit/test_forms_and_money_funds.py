"""Issue 10: "Add funds" in the bank app, a balanced transfer from the bank within a rolling daily limit."""
import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.bank import funds, ledger, services
from app.bank.errors import InvalidField
from app.bank.models import LedgerEntry, Transfer, utcnow
from app.common import tracing
from app.extensions import db

from ..support import FreshContextClient, csrf_token, make_app

LIMIT = 500000  # R 5 000.00


@pytest.fixture
def customer(app):
    return services.create_customer("topper", "a-long-password", "2580", 100000)


def _transfers_of_kind(kind):
    return db.session.scalars(select(Transfer).where(Transfer.kind == kind).order_by(Transfer.id)).all()


def test_adding_funds_is_a_balanced_transfer_from_the_bank_that_the_history_shows(app, customer):
    transfer = funds.add_funds(customer, 25050, LIMIT)
    assert ledger.balance_of(customer.account) == 100000 + 25050
    legs = sorted((entry.account.number, entry.amount) for entry in transfer.entries)
    assert legs == sorted([(ledger.BANK_FUNDING_ACCOUNT, -25050), (customer.account.number, 25050)])
    assert sum(amount for _, amount in legs) == 0
    assert ledger.bank_funding_account().kind == "bank"
    [latest, *_] = ledger.entries_of(customer.account)
    assert (latest.amount, latest.transfer.kind, latest.transfer.description) == (25050, "add_funds", "Funds added")
    # The whole ledger still sums to zero: the money came from somewhere.
    assert db.session.scalar(select(func.sum(LedgerEntry.amount))) == 0


def test_the_daily_limit_is_read_from_the_ledger_over_a_rolling_24_hours(app, customer):
    start = utcnow() - timedelta(hours=30)
    funds.add_funds(customer, 300000, LIMIT, now=start)                        # 30 h ago: outside the window now
    funds.add_funds(customer, 200000, LIMIT, now=start + timedelta(hours=7))   # 23 h ago: inside; the limit then
    with pytest.raises(InvalidField):                                          # ... was reached with both
        funds.add_funds(customer, 1, LIMIT, now=start + timedelta(hours=7, minutes=1))
    assert funds.added_within_a_day(customer) == 200000
    assert funds.allowance_left(customer, LIMIT) == 300000
    with pytest.raises(InvalidField) as refused:
        funds.add_funds(customer, 300001, LIMIT)
    assert refused.value.field == "amount"
    assert refused.value.message == (
        "You can add up to R 5 000.00 in 24 hours and have added R 2 000.00: add at most R 3 000.00 now.")
    funds.add_funds(customer, 300000, LIMIT)                                   # exactly up to the limit
    with pytest.raises(InvalidField) as refused:
        funds.add_funds(customer, 1, LIMIT)
    assert re.search(r"have added all of it: try again after \d\d \w{3}, \d\d:\d\d UTC\.$", refused.value.message)
    # An hour later, the top-up of 23 hours ago has left the window.
    assert funds.allowance_left(customer, LIMIT, now=utcnow() + timedelta(hours=1, minutes=1)) == 200000
    assert len(_transfers_of_kind("add_funds")) == 3
    assert ledger.balance_of(customer.account) == 100000 + 800000


def test_other_money_does_not_count_against_the_limit(app, customer):
    """Only top-ups count: the opening deposit and payments received are not "added funds"."""
    assert funds.allowance_left(customer, LIMIT) == LIMIT
    assert ledger.balance_of(customer.account) == 100000


@pytest.mark.parametrize("amount", [0, -100, 1.5, "100", True, None])
def test_only_a_positive_whole_number_of_cents_is_added(app, customer, amount):
    with pytest.raises(InvalidField) as refused:
        funds.add_funds(customer, amount, LIMIT)
    assert refused.value.field == "amount" and "amount" in refused.value.message.lower()
    assert _transfers_of_kind("add_funds") == []


def test_a_refused_top_up_writes_nothing(app, customer):
    with pytest.raises(InvalidField):
        funds.add_funds(customer, LIMIT + 1, LIMIT)
    assert _transfers_of_kind("add_funds") == []
    assert ledger.balance_of(customer.account) == 100000


def test_concurrent_top_ups_never_pass_the_limit_together(tmp_path, seeded_instance):
    """Ten top-ups of R 1 000 at once against a R 5 000 limit: exactly five succeed."""
    import shutil
    shutil.copytree(seeded_instance, tmp_path / "instance")
    app = make_app(tmp_path / "instance")
    with app.app_context():
        customer_id = services.create_customer("racer", "a-long-password", "2580", 0).id
        db.session.remove()
    barrier, results = threading.Barrier(10), []

    def top_up():
        with app.app_context():
            from app.bank.models import Customer
            customer = db.session.get(Customer, customer_id)
            barrier.wait()
            try:
                funds.add_funds(customer, 100000, LIMIT)
                results.append("added")
            except InvalidField:
                results.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=top_up) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results) == ["added"] * 5 + ["refused"] * 5
    with app.app_context():
        from app.bank.models import Customer
        assert ledger.balance_of(db.session.get(Customer, customer_id).account) == LIMIT
        db.session.remove()


def test_the_transfer_is_drawn_in_the_walkthrough_only_inside_a_journey(app, customer):
    seen = []

    def observer(sender, kind, details):
        seen.append((kind, details))

    tracing.message_crossed.connect(observer, sender=app)
    try:
        funds.add_funds(customer, 1000, LIMIT)
        assert seen == []  # no journey is current: none is invented
        with tracing.trace("ab" * 16):
            transfer = funds.add_funds(customer, 2000, LIMIT)
    finally:
        tracing.message_crossed.disconnect(observer, sender=app)
    [(kind, details)] = seen
    assert kind == "ledger" and details["trace_id"] == "ab" * 16
    assert details["data"] == {"transfer_id": transfer.id, "description": "Funds added"}
    assert sorted(e["amount"] for e in details["entries"]) == [-2000, 2000]


# --- the Account page's form ---------------------------------------------------------------

def _logged_in(client):
    page = client.get("/bank/app/login").get_data(as_text=True)
    client.post("/bank/app/login", data={"csrf_token": csrf_token(page), "username": "topper",
                                         "password": "a-long-password"})
    return csrf_token(client.get("/bank/app/account").get_data(as_text=True))


def test_the_account_page_adds_funds_and_shows_them_in_the_history(app, client, customer):
    token = _logged_in(client)
    page = client.get("/bank/app/account").get_data(as_text=True)
    assert 'action="/bank/app/account/add-funds"' in page and 'name="amount"' in page
    assert "R 5 000.00 every 24 hours" in page
    response = client.post("/bank/app/account/add-funds", data={"csrf_token": token, "amount": "1 250.50"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/bank/app/account")
    page = client.get("/bank/app/account").get_data(as_text=True)
    assert "Added R 1 250.50 to your account." in page
    assert re.search(r"Funds added.*?R 1 250\.50", page, re.S)
    assert 'data-testid="balance">R 2 250.50<' in page


@pytest.mark.parametrize("amount, message", [
    ("", "Enter the amount to add, such as 500 or 250.50."),
    ("12.345", "Enter the amount in rand with at most 2 decimals, such as 250.50."),
    ("-5", "Enter an amount above R 0.00."),
    ("0", "Enter an amount above R 0.00."),
    ("lots", "Enter the amount in rand with at most 2 decimals, such as 250.50."),
    ("5000.01", "You can add up to R 5 000.00 in 24 hours and have added R 0.00: add at most R 5 000.00 now."),
])
def test_the_amount_is_checked_with_a_clear_message(app, client, customer, amount, message):
    token = _logged_in(client)
    response = client.post("/bank/app/account/add-funds", data={"csrf_token": token, "amount": amount})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _transfers_of_kind("add_funds") == []


def test_adding_funds_needs_the_pages_csrf_token_and_a_customer(app, client, customer):
    token = csrf_token(client.get("/bank/app/login").get_data(as_text=True))
    anonymous = client.post("/bank/app/account/add-funds", data={"csrf_token": token, "amount": "10"})
    assert anonymous.status_code == 302 and "/bank/app/login" in anonymous.headers["Location"]
    _logged_in(client)
    assert client.post("/bank/app/account/add-funds", data={"amount": "10"}).status_code == 400
    assert _transfers_of_kind("add_funds") == []


def test_adding_funds_is_rate_limited(tmp_path, seeded_instance):
    import shutil
    shutil.copytree(seeded_instance, tmp_path / "instance")
    app = make_app(tmp_path / "instance", RATELIMIT_ADD_FUNDS="2 per minute")
    client = FreshContextClient(app, app.test_client())
    with app.app_context():
        services.create_customer("topper", "a-long-password", "2580", 0)
        db.session.remove()
    token = _logged_in(client)
    statuses = [client.post("/bank/app/account/add-funds", data={"csrf_token": token, "amount": "1"}).status_code
                for _ in range(3)]
    assert statuses == [302, 302, 429]

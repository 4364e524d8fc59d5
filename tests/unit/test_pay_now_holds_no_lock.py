"""Pay now calls the bank with no write lock on the shop's database held: meanwhile another Pay now,
or the bank's webhook, can write. (It held one for the whole round trip: a 2 s bank stalled them all.)"""
import sqlite3

import pytest

from app.extensions import db
from app.shop import services
from app.shop.bank_client import BankUnavailable
from app.shop.models import ShopUser
from app.common.instance import sqlite_file

pytestmark = pytest.mark.sqlite_only("SQLite's database-wide write lock; PostgreSQL locks rows")


class BankThatTriesToWriteMeanwhile:
    """Plays the bank; while "the bank is thinking", another connection writes to the shop's database."""

    def __init__(self, shop_database):
        self.shop_database = shop_database
        self.write_meanwhile = None

    def create_payment_request(self, body, idempotency_key):
        other = sqlite3.connect(self.shop_database, timeout=0)  # no waiting: a held lock shows at once
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("UPDATE users SET name = name")
            other.commit()
            self.write_meanwhile = "written"
        except sqlite3.OperationalError as exc:
            self.write_meanwhile = str(exc)
        finally:
            other.close()
        raise BankUnavailable("the test's bank stops here")


@pytest.mark.parametrize("retry", [False, True])
def test_pay_now_holds_no_write_lock_while_the_bank_thinks(app, retry):
    user = ShopUser(issuer="https://idp.example", subject="s-1", email="a@example.co.za", name="A")
    db.session.add(user)
    db.session.commit()
    order = services.place_order(user, "shopper-1", "checkout-1", {"headlamp": 1}, "standard", {"city": "Cape Town"})
    bank = BankThatTriesToWriteMeanwhile(str(sqlite_file(app.config["SQLALCHEMY_BINDS"]["shop"])))
    attempt = services.request_payment(order, "4000 0000 0000 0002", "key-1", bank, "https://shop.example/hook")
    if retry:  # the retry of an unknown outcome takes another path to the bank
        attempt = services.request_payment(order, "4000 0000 0000 0002", "key-1", bank, "https://shop.example/hook")
    assert bank.write_meanwhile == "written"
    assert attempt.status == "error"

"""The whole Pay now request, view and all, calls the bank with no write lock held on the shop's
database (the unit test of the same name checks the service's own paths, retries included)."""
import sqlite3

import pytest

from app.common.instance import sqlite_file
from app.shop.bank_client import BankClient

from ..support import Shopper

pytestmark = pytest.mark.sqlite_only("SQLite's database-wide write lock; PostgreSQL locks rows")


def test_while_the_bank_answers_pay_now_another_connection_can_write(live, customer_factory, monkeypatch):
    card = customer_factory()[3]
    shop_database = str(sqlite_file(live.app.config["SQLALCHEMY_BINDS"]["shop"]))
    meanwhile = []
    ask_the_bank = BankClient.create_payment_request

    def write_first(self, body, idempotency_key):
        other = sqlite3.connect(shop_database, timeout=0)  # no waiting: a held lock shows at once
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("UPDATE users SET name = name")
            other.commit()
            meanwhile.append("written")
        except sqlite3.OperationalError as exc:
            meanwhile.append(str(exc))
        finally:
            other.close()
        return ask_the_bank(self, body, idempotency_key)

    monkeypatch.setattr(BankClient, "create_payment_request", write_first)
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("headlamp")
    order_id, _ = shopper.checkout(card)
    assert meanwhile == ["written"]
    assert shopper.order_status(order_id)["payment"]["status"] == "pending"

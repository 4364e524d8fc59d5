"""Races, expiry, cancel and a shop that is down: the loop holds when things go wrong."""
import threading

from sqlalchemy import func, select

from app.bank import ledger
from app.bank.models import Customer, Merchant, PaymentRequest, Transfer, WebhookEvent
from app.bank.merchants import register_webhook_endpoint
from app.extensions import db
from app.shop.models import Order

from ..support import BankCustomer, Shopper, SwitchableProxy, csrf_token, in_app_db, wait_for


def _order_status(live, order_id):
    return in_app_db(live, lambda: db.session.get(Order, order_id).status)


def _send_webhooks_through(live, url):
    """The shop now names `url` as its callback: the bank's operator registers it first, as a real bank would."""
    def register():
        merchant = db.session.scalar(select(Merchant).where(Merchant.client_id == live.app.config["BANK_CLIENT_ID"]))
        register_webhook_endpoint(merchant, url)
        db.session.commit()
    in_app_db(live, register)
    live.app.config["SHOP_WEBHOOK_URL"] = url


def test_concurrent_approvals_of_one_request_transfer_once(live, customer_factory):
    username, password, pin, card = customer_factory(balance=500000)
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("coffee-beans")
    shopper.checkout(card)
    phones = [BankCustomer(live.url, username, password) for _ in range(6)]
    for phone in phones:
        phone.register_device()  # six registered devices, all approving at once
    [approval] = phones[0].pending()
    pages = [p.http.get(f"{live.url}/bank/app/approvals/{approval['id']}", timeout=10).text for p in phones]
    barrier = threading.Barrier(len(phones))
    results = []

    def approve(phone, page):
        barrier.wait()
        response = phone.http.post(f"{live.url}/bank/app/approvals/{approval['id']}/approve", timeout=30,
                                   data={"csrf_token": csrf_token(page), "pin": pin})
        results.append(response.status_code)

    threads = [threading.Thread(target=approve, args=pair) for pair in zip(phones, pages)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * len(phones)

    def check():
        transfers = db.session.scalar(select(func.count(Transfer.id)).where(
            Transfer.payment_request_id == approval["id"]))
        events = db.session.scalar(select(func.count(WebhookEvent.id)).where(
            WebhookEvent.payment_request_id == approval["id"]))
        customer = db.session.scalar(select(Customer).where(Customer.username == username))
        return transfers, events, ledger.balance_of(customer.account)
    assert in_app_db(live, check) == (1, 1, 500000 - approval["amount"])


def test_two_requests_against_one_balance_never_overdraw(live, customer_factory):
    username, password, pin, card = customer_factory(balance=100000)  # R 1 000
    orders = []
    for _ in range(2):
        shopper = Shopper.signed_in(live)
        shopper.fill_cart("hiking-backpack")  # R 899 + R 65 delivery each
        orders.append(shopper.checkout(card)[0])
    phone_a, phone_b = BankCustomer(live.url, username, password), BankCustomer(live.url, username, password)
    phone_a.register_device()
    phone_b.register_device()
    first, second = phone_a.pending()
    pages = [phone_a.http.get(f"{live.url}/bank/app/approvals/{first['id']}", timeout=10).text,
             phone_b.http.get(f"{live.url}/bank/app/approvals/{second['id']}", timeout=10).text]
    barrier = threading.Barrier(2)

    def approve(phone, request_id, page):
        barrier.wait()
        phone.http.post(f"{live.url}/bank/app/approvals/{request_id}/approve", timeout=30,
                        data={"csrf_token": csrf_token(page), "pin": pin})

    threads = [threading.Thread(target=approve, args=(phone_a, first["id"], pages[0])),
               threading.Thread(target=approve, args=(phone_b, second["id"], pages[1]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    def outcome():
        statuses = sorted((p.status, p.decline_reason) for p in db.session.scalars(
            select(PaymentRequest).where(PaymentRequest.id.in_([first["id"], second["id"]]))))
        customer = db.session.scalar(select(Customer).where(Customer.username == username))
        return statuses, ledger.balance_of(customer.account)
    statuses, balance = in_app_db(live, outcome)
    assert statuses == [("approved", None), ("declined", "insufficient_funds")]
    assert balance == 100000 - 96400 >= 0


def test_expiry_reaches_the_shop_and_blocks_approval(live, customer_factory):
    username, password, pin, card = customer_factory()
    live.app.config["PAYMENT_TTL_SECONDS"] = 1
    try:
        shopper = Shopper.signed_in(live)
        shopper.fill_cart("enamel-mug")
        order_id, _ = shopper.checkout(card)
    finally:
        live.app.config["PAYMENT_TTL_SECONDS"] = 120
    wait_for(lambda: _order_status(live, order_id) == "payment_failed", message="expiry webhook")
    status = shopper.order_status(order_id)
    assert status["payment"]["status"] == "expired" and status["can_pay"] is True
    phone = BankCustomer(live.url, username, password)
    assert phone.pending() == []


def test_cancel_while_waiting(live, customer_factory):
    username, password, pin, card = customer_factory()
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("dotted-notebook")
    order_id, _ = shopper.checkout(card)
    phone = BankCustomer(live.url, username, password)
    [approval] = phone.pending()
    response = shopper.post_form(f"/shop/orders/{order_id}/cancel", {}, page=f"/shop/orders/{order_id}")
    assert response.status_code == 200
    assert shopper.order_status(order_id)["status"] == "cancelled"
    assert phone.pending() == []
    refused = phone.decide(approval["id"], "approve", pin=pin)
    assert "already cancelled" in refused.text
    assert in_app_db(live, lambda: db.session.get(PaymentRequest, approval["id"]).status) == "cancelled"


def test_shop_down_during_approval_is_completed_by_webhook_retry(live, customer_factory):
    username, password, pin, card = customer_factory()
    proxy = SwitchableProxy(live.port)
    original = live.app.config["SHOP_WEBHOOK_URL"]
    _send_webhooks_through(live, f"{proxy.url}/shop/webhooks/bank")
    try:
        shopper = Shopper.signed_in(live)
        shopper.fill_cart("water-bottle")
        order_id, _ = shopper.checkout(card)  # the shop's callback goes through the proxy, which is down
        phone = BankCustomer(live.url, username, password)
        [approval] = phone.pending()
        phone.decide(approval["id"], "approve", pin=pin)

        def failed_attempts():
            event = db.session.scalar(select(WebhookEvent).where(WebhookEvent.payment_request_id == approval["id"]))
            return event is not None and event.attempt_count >= 2 and event.delivered_at is None
        wait_for(lambda: in_app_db(live, failed_attempts), message="failed webhook attempts while the shop is down")
        assert _order_status(live, order_id) == "payment_pending"

        proxy.up()
        wait_for(lambda: _order_status(live, order_id) == "paid", timeout=20, message="retry delivers the webhook")

        def delivery():
            event = db.session.scalar(select(WebhookEvent).where(WebhookEvent.payment_request_id == approval["id"]))
            return event.state, [a.status_code for a in event.attempts]
        # The shop commits "paid" before the bank has read the 200 and recorded the delivery.
        wait_for(lambda: in_app_db(live, delivery)[0] == "delivered", message="the bank records the delivery")
        _, codes = in_app_db(live, delivery)
        assert codes[-1] == 200 and all(code is None for code in codes[:-1])
    finally:
        live.app.config["SHOP_WEBHOOK_URL"] = original
        proxy.down()


def test_a_restart_does_not_lose_a_pending_webhook(tmp_path):
    """The outbox lives in the database: a bank that restarts still delivers what it owed."""
    from ..conftest import new_customer
    from ..support import LiveServer

    instance = tmp_path / "instance"
    first = LiveServer(instance).start()
    proxy = SwitchableProxy(first.port)  # down: the shop cannot be reached
    _send_webhooks_through(first, f"{proxy.url}/shop/webhooks/bank")
    username, password, pin, card = new_customer(first.app)
    shopper = Shopper.signed_in(first)
    shopper.fill_cart("braai-tongs")
    order_id, _ = shopper.checkout(card)
    phone = BankCustomer(first.url, username, password)
    [approval] = phone.pending()
    phone.decide(approval["id"], "approve", pin=pin)

    def attempted():
        event = db.session.scalar(select(WebhookEvent).where(WebhookEvent.payment_request_id == approval["id"]))
        return event is not None and event.attempt_count >= 1
    wait_for(lambda: in_app_db(first, attempted), message="a failed delivery before the restart")
    first.stop()  # the bank goes away with the event undelivered

    second = LiveServer(instance).start()  # same databases, new process state
    try:
        proxy.target_port = second.port
        proxy.up()
        wait_for(lambda: _order_status(second, order_id) == "paid", timeout=20,
                 message="the restarted bank delivers the stored event")
    finally:
        proxy.down()
        second.stop()

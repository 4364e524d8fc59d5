"""The whole loop over real HTTP: shop → bank API → bank app approval → webhook → paid order."""
from sqlalchemy import func, select

from app.bank import ledger
from app.bank.models import Customer, PaymentRequest, Transfer
from app.extensions import db

from ..support import BankCustomer, Shopper, in_app_db, wait_for


def test_checkout_approve_webhook_marks_order_paid(live, customer_factory):
    username, password, pin, card = customer_factory(balance=500000)
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("headlamp", 2)
    order_id, page = shopper.checkout(card)

    status = shopper.order_status(order_id)
    assert status["status"] == "payment_pending"
    assert status["payment"]["status"] == "pending"
    assert len(status["payment"]["binding_code"]) == 4
    assert status["payment"]["binding_code"] in page.text
    assert status["payment"]["card_last4"] == card[-4:]
    assert card not in page.text  # the shop never shows (or keeps) the full number

    phone = BankCustomer(live.url, username, password)
    [approval] = phone.pending()
    assert approval["binding_code"] == status["payment"]["binding_code"]
    assert approval["amount"] == 2 * 39900 + 6500
    response = phone.decide(approval["id"], "approve", pin=pin)
    assert "Approved." in response.text

    paid = wait_for(lambda: (s := shopper.order_status(order_id))["status"] == "paid" and s, message="order paid")
    assert paid["payment"]["status"] == "approved"
    with live.app.app_context():
        customer = db.session.scalar(select(Customer).where(Customer.username == username))
        assert ledger.balance_of(customer.account) == 500000 - 86300
        payment = db.session.get(PaymentRequest, approval["id"])
        assert ledger.balance_of(payment.merchant.account) >= 86300
        db.session.remove()


def test_decline_reaches_the_shop_and_allows_a_retry(live, customer_factory):
    username, password, pin, card = customer_factory()
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("rooibos-tea")
    order_id, _ = shopper.checkout(card, delivery="collect")
    phone = BankCustomer(live.url, username, password)
    [approval] = phone.pending()
    phone.decide(approval["id"], "decline")

    failed = wait_for(lambda: (s := shopper.order_status(order_id))["status"] == "payment_failed" and s,
                      message="order declined")
    assert failed["payment"]["decline_reason"] == "customer_declined"
    assert failed["can_pay"] is True

    # Retry with the same card: a new attempt, a new bank request, and this time approve.
    page = shopper.get(f"/shop/orders/{order_id}").text
    from ..support import TOKEN_PATTERN, csrf_token
    shopper.http.post(f"{live.url}/shop/orders/{order_id}/pay", timeout=15, data={
        "csrf_token": csrf_token(page), "payment_token": TOKEN_PATTERN.search(page).group(1), "card_number": card})
    [second] = phone.pending()
    assert second["id"] != approval["id"]
    phone.decide(second["id"], "approve", pin=pin)
    wait_for(lambda: shopper.order_status(order_id)["status"] == "paid", message="order paid after retry")


def test_insufficient_funds_declines_without_moving_money(live, customer_factory):
    username, password, pin, card = customer_factory(balance=1000)
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("wireless-earbuds")
    order_id, _ = shopper.checkout(card)
    phone = BankCustomer(live.url, username, password)
    [approval] = phone.pending()
    phone.decide(approval["id"], "approve", pin=pin)
    failed = wait_for(lambda: (s := shopper.order_status(order_id))["status"] == "payment_failed" and s,
                      message="insufficient funds decline")
    assert failed["payment"]["decline_reason"] == "insufficient_funds"
    with live.app.app_context():
        assert db.session.scalar(select(func.count(Transfer.id)).where(
            Transfer.payment_request_id == approval["id"])) == 0
        db.session.remove()


def test_wrong_pin_is_refused_and_nothing_moves(live, customer_factory):
    username, password, pin, card = customer_factory()
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("sunglasses")
    order_id, _ = shopper.checkout(card)
    phone = BankCustomer(live.url, username, password)
    [approval] = phone.pending()
    response = phone.decide(approval["id"], "approve", pin="9999" if pin != "9999" else "0000")
    assert "Wrong PIN. 4 tries left before the card locks." in response.text
    assert phone.pending()[0]["status"] == "pending"
    assert shopper.order_status(order_id)["status"] == "payment_pending"


def test_a_cancel_is_announced_once(live, customer_factory, monkeypatch):
    """The bank's webhook for a cancel can reach the shop before the cancel's own answer does (the test makes
    sure it does): the page must still hear the change once, not once from each."""
    from app.bank.models import WebhookEvent
    from app.common import tracing
    from app.shop.bank_client import BankClient
    card = customer_factory()[3]
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("headlamp")
    order_id, _ = shopper.checkout(card)

    def webhook_delivered():
        return in_app_db(live, lambda: db.session.scalar(select(WebhookEvent.delivered_at).where(
            WebhookEvent.type == "payment_request.cancelled").order_by(WebhookEvent.created_at.desc())))
    cancel = BankClient.cancel_payment_request

    def cancel_answered_after_the_webhook(self, request_id):
        answer = cancel(self, request_id)
        wait_for(webhook_delivered, message="the bank's webhook for the cancel delivered")
        return answer
    monkeypatch.setattr(BankClient, "cancel_payment_request", cancel_answered_after_the_webhook)
    announced = []

    def observer(app, kind, details):
        if kind == "socket" and details["event"] == "order_status" and details["data"]["order_id"] == order_id:
            announced.append(details["data"]["status"])
    tracing.message_crossed.connect(observer, sender=live.app)
    try:
        shopper.post_form(f"/shop/orders/{order_id}/cancel", {}, page=f"/shop/orders/{order_id}")
        wait_for(lambda: shopper.order_status(order_id)["status"] == "cancelled", message="cancelled")
    finally:
        tracing.message_crossed.disconnect(observer, sender=live.app)
    assert announced == ["cancelled"]

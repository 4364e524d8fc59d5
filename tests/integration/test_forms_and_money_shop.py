"""Issue 10 in the shop, over real HTTP: no "None" placeholders, the delivery total, a card the bank does
not know, and a Deny at PayLab ID told in plain words."""
import re

from sqlalchemy import select

from app.extensions import db
from app.shop.models import Order

from ..support import TOKEN_PATTERN, Shopper, csrf_token, in_app_db, new_identity, wait_for

ORDER_URL = re.compile(r"/shop/orders/(\d+)$")
UNKNOWN_CARD = "4000000000000002"  # Luhn-valid, but no Baobab Bank card
ADDRESS = {"full_name": "Lerato Dlamini", "phone": "082 123 4567", "street": "12 Long Street", "suburb": "",
           "city": "Cape Town", "province": "Western Cape", "postal_code": "8001"}


def _fee_and_total(html):
    fee = re.search(r'data-testid="delivery-fee">([^<]+)<', html).group(1)
    total = re.search(r'data-testid="order-total">([^<]+)<', html).group(1)
    return fee, total


class NoBank:
    """A bank client that must not be called."""

    def create_payment_request(self, body, idempotency_key):
        raise AssertionError("the bank was asked again")


def _order_of(live, order_id):
    return in_app_db(live, lambda: (lambda o: (o.status, [(a.status, a.card_last4) for a in o.attempts]))(
        db.session.get(Order, order_id)))


def test_the_address_step_and_the_order_page_show_no_none(live):
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("headlamp")
    shopper.post_form("/shop/checkout/", {})
    shopper.post_form("/shop/checkout/delivery", {"method": "standard"})
    address = shopper.get("/shop/checkout/address").text
    assert 'placeholder="None"' not in address and '="None"' not in address
    assert 'placeholder="082 123 4567"' in address  # a real placeholder is kept
    order_id, order_page = shopper.checkout(UNKNOWN_CARD)
    assert '="None"' not in shopper.get(f"/shop/orders/{order_id}").text


def test_the_delivery_step_totals_the_preselected_courier(live):
    """The R 65 courier is preselected, so it is in the total: never "Delivery R 0.00" beside it."""
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("headlamp")  # R 399.00
    shopper.post_form("/shop/checkout/", {})
    page = shopper.get("/shop/checkout/delivery").text
    assert re.search(r'value="standard"[^>]*checked|checked[^>]*value="standard"', page)
    assert _fee_and_total(page) == ("R 65.00", "R 464.00")
    # Each choice carries what the summary then shows, from the server's own prices.
    assert 'data-fee-text="R 149.00"' in page and 'data-total-text="R 548.00"' in page
    assert 'data-fee-text="R 0.00"' in page and 'data-total-text="R 399.00"' in page

    shopper.post_form("/shop/checkout/delivery", {"method": "express"})  # chosen, then back to the step
    assert _fee_and_total(shopper.get("/shop/checkout/delivery").text) == ("R 149.00", "R 548.00")
    refused = shopper.post_form("/shop/checkout/delivery", {"method": "by-donkey"})
    assert "Choose one of the delivery options." in refused.text
    assert _fee_and_total(refused.text) == ("R 149.00", "R 548.00")  # the choice kept, not a stranger's


def test_a_card_the_bank_does_not_know_fails_the_payment_and_offers_another_card(live, customer_factory):
    card = customer_factory()[3]
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("headlamp")
    order_id, page = shopper.checkout(UNKNOWN_CARD)

    status = shopper.order_status(order_id)
    assert status["status"] == "payment_failed"
    assert status["payment"]["status"] == "refused" and status["payment"]["card_last4"] == "0002"
    assert status["can_pay"] is True
    assert status["message"].startswith("Payment failed: Baobab Bank refused the card ending in 0002")
    assert "Try another card." in status["message"]
    assert status["steps"]["waiting"]["state"] != "current"
    assert status["steps"]["final"] == {"state": "done bad", "label": "Payment failed"}
    # Server-rendered: the page says so before any script runs, and shows the retry form.
    assert 'data-step="waiting" class="current"' not in page.text
    assert "Payment failed" in page.text and 'data-retry hidden' not in page.text
    assert _order_of(live, order_id) == ("payment_failed", [("refused", "0002")])

    # The same checkout's Pay now again (a double click, a replay) asks nothing new of the bank.
    def same_key_again():
        from app.shop import services
        order = db.session.get(Order, order_id)
        return services.request_payment(order, UNKNOWN_CARD, order.checkout_token, NoBank(), "unused").status
    assert in_app_db(live, same_key_again) == "refused"
    assert _order_of(live, order_id) == ("payment_failed", [("refused", "0002")])

    # Another card from the order page: the bank is asked, and the page waits for approval.
    shopper.http.post(f"{live.url}/shop/orders/{order_id}/pay", timeout=15, data={
        "csrf_token": csrf_token(page.text), "payment_token": TOKEN_PATTERN.search(page.text).group(1),
        "card_number": card})
    status = shopper.order_status(order_id)
    assert status["status"] == "payment_pending" and status["payment"]["status"] == "pending"
    assert status["steps"]["waiting"] == {"state": "current", "label": "Waiting for approval"}
    assert _order_of(live, order_id) == ("payment_pending", [("refused", "0002"), ("pending", card[-4:])])


def test_a_refused_retry_from_the_order_page_fails_the_payment_too(live, customer_factory):
    """A declined order retried with a card the bank does not know: failed, never waiting again."""
    username, password, pin, card = customer_factory()
    from ..support import BankCustomer
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("rooibos-tea")
    order_id, page = shopper.checkout(card, delivery="collect")
    phone = BankCustomer(live.url, username, password)
    [approval] = phone.pending()
    phone.decide(approval["id"], "decline")
    wait_for(lambda: shopper.order_status(order_id)["status"] == "payment_failed", message="declined")
    page = shopper.get(f"/shop/orders/{order_id}").text
    shopper.http.post(f"{live.url}/shop/orders/{order_id}/pay", timeout=15, data={
        "csrf_token": csrf_token(page), "payment_token": TOKEN_PATTERN.search(page).group(1),
        "card_number": UNKNOWN_CARD})
    status = shopper.order_status(order_id)
    assert (status["status"], status["payment"]["status"], status["can_pay"]) == ("payment_failed", "refused", True)


def test_deny_at_paylab_id_is_told_in_plain_words(live):
    shopper = Shopper(live.url)
    email, password = new_identity(live.app)
    page = shopper.get("/shop/signin/paylab")
    page = shopper.http.post(page.url, timeout=10, data={
        "csrf_token": csrf_token(page.text), "email": email, "password": password})
    assert "wants to use your PayLab ID" in page.text
    page = shopper.http.post(page.url, timeout=10, data={"csrf_token": csrf_token(page.text), "decision": "deny"})
    assert page.status_code == 400 and "/shop/auth/paylab/callback" in page.url
    error = re.search(r'data-testid="signin-error">([^<]+)<', page.text).group(1)
    assert error == ("You chose not to share your PayLab ID with Veldt Market, so you are not signed in. "
                     "Try again when you are ready.")
    assert "resource owner" not in page.text

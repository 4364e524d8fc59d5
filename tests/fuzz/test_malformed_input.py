"""Malformed input the fuzzers found answering 500 (issue 8, point 9): each now gets a clear 4xx.

Each test sends the very request that used to fail, over real HTTP to the live server.
"""
import re

import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.shop.models import Order, ShopUser

from ..support import Shopper, csrf_token, in_app_db, new_identity

OVER_THE_LIMIT = "x" * (1024 * 1024 + 1)  # MAX_CONTENT_LENGTH is 1 MiB
NON_ASCII_TOKEN = "tökén-ünïcödé-€-支付"
NO_SUCH_ORDER = "99999999999999999999"  # more than any database integer holds
ORDER_URL = re.compile(r"/shop/orders/(\d+)$")


@pytest.mark.parametrize("path", ["/shop/cart/add/headlamp", "/shop/signout", "/bank/app/login",
                                  "/bank/merchant/login", "/idp/signin"])
def test_a_form_post_over_one_mebibyte_answers_413_with_a_page(live, path):
    """The body is refused before it is read; the error page must not read it again (it did: a 500)."""
    browser = requests.Session()
    page = browser.get(live.url + path.rsplit("/", 1)[0] + "/", timeout=10)  # a page of that server: its cookie
    response = browser.post(live.url + path, data={"csrf_token": "x", "comment": OVER_THE_LIMIT}, timeout=30)
    assert page.status_code < 500
    assert response.status_code == 413, response.text[:500]
    assert response.headers["Content-Type"].startswith("text/html")
    assert "too large" in response.text.lower()


def test_a_json_call_over_one_mebibyte_answers_413_in_json(live):
    response = requests.post(f"{live.url}/bank/api/v1/payment-requests", data=OVER_THE_LIMIT, timeout=30,
                             headers={"Content-Type": "application/json", "Authorization": "Bearer x"})
    assert response.status_code in (401, 413)  # refused either way, in JSON
    assert response.headers["Content-Type"] == "application/json"


def _shopper_at_review(live):
    email, password = new_identity(live.app)
    shopper = Shopper(live.url)
    shopper.sign_in(email, password)
    shopper.fill_cart("headlamp")
    shopper.post_form("/shop/checkout/", {})
    shopper.post_form("/shop/checkout/delivery", {"method": "standard"})
    shopper.post_form("/shop/checkout/address", {
        "full_name": "Lerato Dlamini", "phone": "082 123 4567", "street": "12 Long Street",
        "suburb": "City Centre", "city": "Cape Town", "province": "Western Cape", "postal_code": "8001"})
    return shopper, email


def _orders_of(live, email):
    return in_app_db(live, lambda: [(order.id, order.status, [a.status for a in order.attempts])
                                    for order in db.session.scalars(select(Order).join(ShopUser).where(
                                        ShopUser.email == email))])


def test_pay_now_with_a_non_ascii_payment_token_is_refused_and_leaves_no_stuck_order(live, customer_factory):
    """The token became the Idempotency-Key header, which cannot carry non-ASCII: a 500 and an order
    stuck in `requesting` forever, with Pay now refused on it."""
    card = customer_factory()[3]
    shopper, email = _shopper_at_review(live)
    review = shopper.get("/shop/checkout/review").text
    response = shopper.http.post(f"{live.url}/shop/checkout/pay", timeout=15, data={
        "csrf_token": csrf_token(review), "payment_token": NON_ASCII_TOKEN, "card_number": card})
    assert response.status_code == 422, response.text[:500]
    assert _orders_of(live, email) == []
    # The page it answered with can be paid from: it carries a fresh, valid token.
    token = re.search(r'name="payment_token" type="hidden" value="([^"]+)"', response.text).group(1)
    assert token != NON_ASCII_TOKEN
    paid = shopper.http.post(f"{live.url}/shop/checkout/pay", timeout=15, data={
        "csrf_token": csrf_token(response.text), "payment_token": token, "card_number": card})
    assert ORDER_URL.search(paid.url), paid.url
    [(_, _, attempts)] = _orders_of(live, email)
    assert attempts == ["pending"]


def test_paying_an_order_again_with_a_non_ascii_payment_token_is_refused(live, customer_factory):
    card = customer_factory()[3]
    shopper, email = _shopper_at_review(live)
    review = shopper.get("/shop/checkout/review").text
    token = re.search(r'name="payment_token" type="hidden" value="([^"]+)"', review).group(1)
    unknown_card = "4000129999999997"  # Luhn-valid, but no Baobab card: the payment failed, try another card
    placed = shopper.http.post(f"{live.url}/shop/checkout/pay", timeout=15, data={
        "csrf_token": csrf_token(review), "payment_token": token, "card_number": unknown_card})
    assert ORDER_URL.search(placed.url), (placed.status_code, placed.url, placed.text[-3000:])
    order_id = int(ORDER_URL.search(placed.url).group(1))
    order_page = shopper.get(f"/shop/orders/{order_id}").text
    response = shopper.http.post(f"{live.url}/shop/orders/{order_id}/pay", timeout=15, data={
        "csrf_token": csrf_token(order_page), "payment_token": NON_ASCII_TOKEN, "card_number": card})
    assert response.status_code == 200 and response.url.endswith(f"/shop/orders/{order_id}")
    assert "reload the page" in response.text
    assert _orders_of(live, email) == [(order_id, "payment_failed", ["refused"])]  # nothing stuck: it can be paid
    retry_token = re.search(r'name="payment_token" type="hidden" value="([^"]+)"', response.text).group(1)
    shopper.http.post(f"{live.url}/shop/orders/{order_id}/pay", timeout=15, data={
        "csrf_token": csrf_token(response.text), "payment_token": retry_token, "card_number": card})
    assert _orders_of(live, email)[0][2] == ["refused", "pending"]


@pytest.mark.parametrize("method, path, wants_json", [
    ("GET", f"/shop/orders/{NO_SUCH_ORDER}", False),
    ("POST", f"/shop/orders/{NO_SUCH_ORDER}/pay", False),
    ("POST", f"/shop/orders/{NO_SUCH_ORDER}/cancel", False),
    ("GET", f"/shop/api/orders/{NO_SUCH_ORDER}/status", True),
])
def test_an_order_id_beyond_any_database_integer_is_not_found(live, method, path, wants_json):
    shopper = Shopper.signed_in(live)
    page = shopper.get("/shop/orders/").text
    response = shopper.http.request(method, live.url + path, data={"csrf_token": csrf_token(page)}, timeout=10)
    assert response.status_code == 404, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/json" if wants_json else "text/html")


@pytest.mark.parametrize("body", [b"false", b"[1, 2]", b"null", b'{"quantity": {"nested": 1}}', b'{"quantity": null}'])
def test_a_shop_form_posted_as_json_of_the_wrong_shape_is_refused_not_a_500(live, body):
    """Flask-WTF reads a JSON body as form data; `false`, a list or an object in a number field made it raise."""
    shopper = Shopper.signed_in(live)
    token = csrf_token(shopper.get("/shop/").text)
    response = shopper.http.post(f"{live.url}/shop/cart/add/headlamp", data=body, timeout=10,
                                 headers={"Content-Type": "application/json", "X-CSRFToken": token})
    assert response.status_code < 500, response.text[:300]
    assert response.headers["Content-Type"].startswith("text/html")

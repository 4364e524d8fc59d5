"""Attack 5 of issue 8: one cart is paid once, whatever the number of tabs, clicks or replays."""
import re
import threading

from sqlalchemy import func, select

from app.bank.models import PaymentRequest
from app.extensions import db

from ..support import BankCustomer, Shopper, TOKEN_PATTERN, csrf_token, in_app_db, wait_for

ADDRESS = {"full_name": "Lerato Dlamini", "phone": "082 123 4567", "street": "12 Long Street",
           "suburb": "City Centre", "city": "Cape Town", "province": "Western Cape", "postal_code": "8001"}


def _at_once(*calls):
    """Run the calls in threads released together; return their results in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        results[i] = call()
    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def _bank_requests(live, order_id):
    return in_app_db(live, lambda: db.session.scalar(select(func.count(PaymentRequest.id)).where(
        PaymentRequest.merchant_reference == f"order-{order_id}")))


def _to_review(shopper):
    shopper.fill_cart("headlamp")
    shopper.post_form("/shop/checkout/", {})
    shopper.post_form("/shop/checkout/delivery", {"method": "standard"})
    shopper.post_form("/shop/checkout/address", ADDRESS)


def test_two_tabs_paying_one_cart_at_once_make_one_order_and_one_payment(live, customer_factory):
    username, password, pin, card = customer_factory()
    shopper = Shopper.signed_in(live)
    _to_review(shopper)
    tab_one, tab_two = shopper.get("/shop/checkout/review").text, shopper.get("/shop/checkout/review").text

    def pay(page):
        return lambda: shopper.http.post(f"{live.url}/shop/checkout/pay", timeout=20, data={
            "csrf_token": csrf_token(page), "payment_token": TOKEN_PATTERN.search(page).group(1),
            "card_number": card})
    first, second = _at_once(pay(tab_one), pay(tab_two))
    order_ids = {re.search(r"/shop/orders/(\d+)$", r.url).group(1) for r in (first, second)}
    assert len(order_ids) == 1, f"two tabs made orders {order_ids}"
    [order_id] = order_ids
    assert _bank_requests(live, order_id) == 1

    replay = shopper.http.post(f"{live.url}/shop/checkout/pay", timeout=20, data={
        "csrf_token": csrf_token(tab_one), "payment_token": TOKEN_PATTERN.search(tab_one).group(1),
        "card_number": card})
    assert replay.url.endswith(f"/shop/orders/{order_id}")
    assert _bank_requests(live, order_id) == 1


def test_two_order_pages_retrying_at_once_ask_the_bank_once(live, customer_factory, monkeypatch):
    username, password, pin, card = customer_factory()
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("headlamp")
    order_id, _ = shopper.checkout(card)
    phone = BankCustomer(live.url, username, password, pin)
    [approval] = phone.pending()
    phone.decide(approval["id"], "decline")
    wait_for(lambda: shopper.order_status(order_id)["status"] == "payment_failed", message="declined")

    page_one = shopper.get(f"/shop/orders/{order_id}").text
    page_two = shopper.get(f"/shop/orders/{order_id}").text
    assert TOKEN_PATTERN.search(page_one).group(1) != TOKEN_PATTERN.search(page_two).group(1)

    def retry(page):
        return lambda: shopper.http.post(f"{live.url}/shop/orders/{order_id}/pay", timeout=20, data={
            "csrf_token": csrf_token(page), "payment_token": TOKEN_PATTERN.search(page).group(1),
            "card_number": card})
    # Widen the race on purpose: both retries pass the "can this order be paid?" check before
    # either goes on, as two fast tabs can. Only the claim on the order may then decide.
    from app.shop import services as shop_services
    both_checked = threading.Barrier(2, timeout=10)
    real_can_pay = shop_services.can_pay

    def can_pay_in_step(order):
        answer = real_can_pay(order)
        try:
            both_checked.wait()
        except threading.BrokenBarrierError:
            pass
        return answer
    monkeypatch.setattr(shop_services, "can_pay", can_pay_in_step)
    answers = _at_once(retry(page_one), retry(page_two))
    monkeypatch.undo()
    assert all(a.status_code == 200 and a.url.endswith(f"/shop/orders/{order_id}") for a in answers)
    assert _bank_requests(live, order_id) == 2  # the declined one, and exactly one retry
    pending = phone.pending()
    assert len(pending) == 1
    phone.decide(pending[0]["id"], "approve", pin=pin)
    wait_for(lambda: shopper.order_status(order_id)["status"] == "paid", message="paid once")

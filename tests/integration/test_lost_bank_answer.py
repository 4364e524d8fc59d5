"""Issue 8: the bank created a payment request but its answer was lost (a timeout).

A retry with another card must not put a second payable request beside the first,
and approving the first must still pay the order (the shop adopts it by its reference).
"""
import pytest
from sqlalchemy import select

from app.bank.models import PaymentRequest
from app.extensions import db
from app.shop import bank_client as bank_client_module

from ..support import BankCustomer, Shopper, TOKEN_PATTERN, csrf_token, in_app_db, wait_for

MAY_BE_WAITING = "A payment for this order may already be waiting in your banking app."


@pytest.fixture
def first_answer_lost(monkeypatch):
    """The bank creates the first payment request, but the shop never hears its answer."""
    real = bank_client_module.BankClient.create_payment_request
    answers = []

    def lose_the_first_answer(self, body, key):
        answer = real(self, body, key)
        answers.append(answer)
        if len(answers) == 1:
            raise bank_client_module.BankUnavailable("The bank did not answer (ReadTimeout).")
        return answer
    monkeypatch.setattr(bank_client_module.BankClient, "create_payment_request", lose_the_first_answer)
    return answers


def _bank_requests(live, order_id):
    """(id, status, card last 4) of every bank request for the order, oldest first."""
    return in_app_db(live, lambda: [(p.id, p.status, p.card.number[-4:]) for p in db.session.scalars(
        select(PaymentRequest).where(PaymentRequest.merchant_reference == f"order-{order_id}")
        .order_by(PaymentRequest.created_at, PaymentRequest.id))])


def _retry_with(shopper, order_id, card_number):
    page = shopper.get(f"/shop/orders/{order_id}").text
    return shopper.http.post(f"{shopper.base}/shop/orders/{order_id}/pay", timeout=20, data={
        "csrf_token": csrf_token(page), "payment_token": TOKEN_PATTERN.search(page).group(1),
        "card_number": card_number})


def _lost_answer_then_retry_with_another_card(live, customer_factory):
    holder_a = customer_factory()
    holder_b = customer_factory()
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("headlamp")
    order_id, _ = shopper.checkout(holder_a[3])
    assert shopper.order_status(order_id)["payment"]["status"] == "error"
    retry = _retry_with(shopper, order_id, holder_b[3])
    return shopper, order_id, retry, holder_a, holder_b


def test_a_retry_with_another_card_after_a_lost_answer_leaves_one_pending_request(
        live, customer_factory, first_answer_lost):
    shopper, order_id, retry, holder_a, holder_b = _lost_answer_then_retry_with_another_card(live, customer_factory)

    requests_for_order = _bank_requests(live, order_id)
    assert [status for _, status, _ in requests_for_order] == ["pending"], requests_for_order
    assert requests_for_order[0][2] == holder_a[3][-4:]  # the first one, the shop never heard of
    assert retry.status_code == 200 and MAY_BE_WAITING in retry.text
    assert BankCustomer(live.url, *holder_b[:3]).pending() == []  # the second card holder is asked nothing
    status = shopper.order_status(order_id)
    assert status["status"] == "awaiting_payment" and status["payment"]["status"] == "error"


def test_approving_the_request_whose_answer_was_lost_pays_the_order(live, customer_factory, first_answer_lost):
    shopper, order_id, _, holder_a, holder_b = _lost_answer_then_retry_with_another_card(live, customer_factory)

    phone = BankCustomer(live.url, *holder_a[:3])
    [approval] = phone.pending()
    phone.decide(approval["id"], "approve", pin=holder_a[2])

    # The webhook names a request the shop never heard of: the shop adopts it by its reference.
    wait_for(lambda: shopper.order_status(order_id)["status"] == "paid", timeout=10, message="paid")
    status = shopper.order_status(order_id)
    assert status["payment"]["status"] == "approved" and status["payment"]["card_last4"] == holder_a[3][-4:]
    assert [(request_id, state) for request_id, state, _ in _bank_requests(live, order_id)] == [
        (approval["id"], "approved")]
    assert BankCustomer(live.url, *holder_b[:3]).pending() == []

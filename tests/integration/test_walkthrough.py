"""One checkout yields the ordered messages of every hop, in one journey that only its learner can read."""
import requests
from sqlalchemy import select

from app.extensions import db
from app.shop.models import Order
from app.walkthrough.models import TraceMessage

from ..support import BankCustomer, Shopper, in_app_db, wait_for


def _forget_bank_token(live):
    client = live.app.extensions.get("shop_bank_client")
    if client is not None:
        client._token = None


def _steps(messages):
    return [(m["step"], m["from"], m["to"]) for m in messages]


def test_one_checkout_is_one_ordered_journey_across_every_hop(live, push_service, customer_factory):
    username, password, pin, card = customer_factory()
    phone = BankCustomer(live.url, username, password, pin)
    subscription = push_service.subscribe()
    phone.register_device(subscription)
    _forget_bank_token(live)  # so that this journey includes the token call

    shopper = Shopper.signed_in(live)
    shopper.fill_cart("headlamp")
    order_id, _ = shopper.checkout(card)
    [approval] = phone.pending()
    phone.decide(approval["id"], "approve", pin=pin)
    wait_for(lambda: shopper.order_status(order_id)["status"] == "paid", message="paid")
    journey = in_app_db(live, lambda: db.session.scalar(select(Order.journey_id).where(Order.id == order_id)))
    assert journey and len(journey) == 32

    def messages():
        return shopper.get(f"/walkthrough/api/journeys/{journey}").json()["messages"]
    wait_for(lambda: any(m["step"] == "webhook" for m in messages()) and
             any(m["label"] == "socket: order_status" and "paid" in str(m["details"]) for m in messages()),
             message="the webhook and the socket update recorded")
    steps = _steps(messages())
    # Each request is placed where it started, so a cause comes before what it caused.
    # The journey starts at the sign-in callback: a journey id from before it (perhaps planted in
    # this browser by someone else) never hears what this learner does (issue 8, attack 6).
    expected = [("signin_callback", "laptop", "shop"),
                ("signin_token", "shop", "idp"), ("signin_userinfo", "shop", "idp"),
                ("pay_now", "laptop", "shop"), ("bank_token", "shop", "bank"), ("payment_request", "shop", "bank"),
                ("socket", "bank", "phone"), ("push_send", "bank", "push"),
                ("approval", "phone", "bank"), ("ledger", "bank", "bank"), ("webhook", "bank", "shop"),
                ("socket", "shop", "laptop")]
    position = 0
    for step in steps:  # the expected hops appear in this order (other messages may sit in between)
        if position < len(expected) and step == expected[position]:
            position += 1
    assert position == len(expected), f"missing {expected[position:]} in {steps}"

    approval_message = next(m for m in messages() if m["step"] == "approval")
    assert approval_message["factors"] == ["knowledge:pin", "possession:device"]
    ledger = next(m for m in messages() if m["step"] == "ledger")
    assert sum(e["amount"] for e in ledger["details"]["entries"]) == 0


def test_no_secret_reaches_a_stored_trace(live, customer_factory):
    username, password, pin, card = customer_factory()
    shopper = Shopper.signed_in(live)
    _forget_bank_token(live)
    shopper.fill_cart("headlamp")
    order_id, _ = shopper.checkout(card)
    phone = BankCustomer(live.url, username, password, pin)
    [approval] = phone.pending()
    phone.decide(approval["id"], "approve", pin=pin)
    wait_for(lambda: shopper.order_status(order_id)["status"] == "paid", message="paid")
    journey = in_app_db(live, lambda: db.session.scalar(select(Order.journey_id).where(Order.id == order_id)))
    stored = "".join(in_app_db(live, lambda: [m.details + m.label for m in db.session.scalars(
        select(TraceMessage).where(TraceMessage.journey_id == journey))]))
    assert "payment_request" in stored
    config = live.app.config
    for secret in (card, config["BANK_CLIENT_SECRET"], config["BANK_WEBHOOK_SECRET"],
                   config["OIDC_PAYLAB_CLIENT_SECRET"], password, "a-long-password"):
        assert secret not in stored
    assert "•••• " + card[-4:] in stored  # the card number is masked to its last 4 digits
    token = phone.http.cookies.get("bank_device")
    assert token and token not in stored


def test_another_learner_cannot_read_the_journey(live, customer_factory):
    username, password, pin, card = customer_factory()
    owner = Shopper.signed_in(live)
    owner.fill_cart("headlamp")
    order_id, _ = owner.checkout(card)
    journey = in_app_db(live, lambda: db.session.scalar(select(Order.journey_id).where(Order.id == order_id)))
    assert owner.get(f"/walkthrough/api/journeys/{journey}").status_code == 200
    other = Shopper.signed_in(live)
    assert other.get(f"/walkthrough/api/journeys/{journey}").status_code == 404
    assert other.get(f"/walkthrough/{journey}").status_code == 404
    assert requests.get(f"{live.url}/walkthrough/api/journeys/{journey}", timeout=10).status_code == 404


def test_a_push_receipt_counts_only_for_your_own_payment(live, customer_factory):
    """The service worker's receipt adds "push delivered" to a journey; nobody else can write into it."""
    username, password, pin, card = customer_factory()
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("headlamp")
    order_id, _ = shopper.checkout(card)
    phone = BankCustomer(live.url, username, password, pin)
    [approval] = phone.pending()
    stranger = BankCustomer(live.url, *customer_factory()[:2])
    assert stranger.api("POST", "/bank/app/api/push/receipt", json={"id": approval["id"]}).status_code == 404
    assert requests.post(f"{live.url}/bank/app/api/push/receipt", json={"id": approval["id"]},
                         timeout=10).status_code == 401
    assert phone.http.post(f"{live.url}/bank/app/api/push/receipt", json={"id": approval["id"]},
                           timeout=10).status_code == 204  # as the service worker sends it: no CSRF header
    journey = in_app_db(live, lambda: db.session.scalar(select(Order.journey_id).where(Order.id == order_id)))
    pushes = [m for m in shopper.get(f"/walkthrough/api/journeys/{journey}").json()["messages"] if m["kind"] == "push"]
    assert [(m["from"], m["to"]) for m in pushes] == [("push", "phone")]


def test_a_journey_created_at_once_by_another_process_keeps_both_messages(app, monkeypatch):
    """The first messages of one journey can reach two processes at once: neither may be lost."""
    from sqlalchemy.orm import Session

    from app.walkthrough import recorder
    from app.walkthrough.models import Journey
    trace_id = "cd" * 16
    engine = app.extensions["sqlalchemy"].engines[None]

    class RacedSession(Session):
        """Looks for the journey, finds none, and meanwhile another process creates it."""
        raced = False

        def get(self, model, ident, **kwargs):
            found = super().get(model, ident, **kwargs)
            if model is Journey and found is None and not RacedSession.raced:
                RacedSession.raced = True
                with Session(engine) as other_process:
                    other_process.add(Journey(id=ident))
                    other_process.add(TraceMessage(journey_id=ident, kind="socket", sender="shop", receiver="laptop",
                                                   label="socket: order_status", details="{}"))
                    other_process.commit()
            return found

    monkeypatch.setattr(recorder, "Session", RacedSession)
    recorder.record(app, "socket", {"trace_id": trace_id, "owner": None, "event": "payment_request",
                                    "namespace": "/bank", "data": {}})
    assert RacedSession.raced
    with Session(engine) as session:
        labels = sorted(m.label for m in session.query(TraceMessage).filter_by(journey_id=trace_id))
    assert labels == ["socket: order_status", "socket: payment_request"]

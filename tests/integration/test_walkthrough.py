"""One checkout yields the ordered messages of every hop, in one journey that only its learner can read."""
import json

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

    def pushes():  # recorded off the request's path: the stranger's tries, had they counted, come first
        return [m for m in shopper.get(f"/walkthrough/api/journeys/{journey}").json()["messages"] if m["kind"] == "push"]
    wait_for(pushes, message="the phone's receipt recorded")
    assert [(m["from"], m["to"]) for m in pushes()] == [("push", "phone")]


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


def test_messages_that_queue_up_are_stored_together_and_a_raced_journey_loses_none(app, monkeypatch):
    """The recorder stores what queued up in one transaction; a journey another process creates
    meanwhile must not roll back the messages of other journeys stored before it in the batch."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from app.walkthrough import recorder
    from app.walkthrough.models import Journey
    engine = app.extensions["sqlalchemy"].engines[None]
    first, raced = "ab" * 16, "ef" * 16
    commits = []
    event.listen(engine, "commit", lambda connection: commits.append(1))

    class RacedSession(Session):
        raced = False

        def get(self, model, ident, **kwargs):
            found = super().get(model, ident, **kwargs)
            if model is Journey and ident == raced and found is None and not RacedSession.raced:
                RacedSession.raced = True
                with Session(engine) as other_process:
                    other_process.add(Journey(id=ident))
                    other_process.commit()
            return found

    monkeypatch.setattr(recorder, "Session", RacedSession)
    socket = {"owner": None, "event": "order_status", "namespace": "/shop", "data": {}}
    recorder.record_many(app, [("socket", dict(socket, trace_id=first))] * 3 + [("socket", dict(socket, trace_id=raced))]
                         + [("socket", dict(socket, trace_id=first))] * 3)
    assert RacedSession.raced
    with Session(engine) as session:
        counts = {trace: session.query(TraceMessage).filter_by(journey_id=trace).count() for trace in (first, raced)}
    assert counts == {first: 6, raced: 1}
    assert len(commits) <= 5  # not one per message: the new journeys' own commits and the batch's


def test_refused_approvals_are_drawn_refused_naming_the_factor_that_failed(live, customer_factory):
    """A wrong PIN and an approval from a browser that is not a registered device are refusals, not successes."""
    username, password, pin, card = customer_factory()
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("headlamp")
    order_id, _ = shopper.checkout(card)
    journey = in_app_db(live, lambda: db.session.scalar(select(Order.journey_id).where(Order.id == order_id)))
    phone = BankCustomer(live.url, username, password, pin)
    [approval] = phone.pending()
    phone.decide(approval["id"], "approve", pin="0000" if pin != "0000" else "9999")  # registers, then a wrong PIN
    stranger = BankCustomer(live.url, username, password, pin)  # the password, but not a registered device
    stranger.device = {"id": "not registered"}
    stranger.decide(approval["id"], "approve", pin=pin)
    phone.decide(approval["id"], "approve", pin=pin)
    wait_for(lambda: shopper.order_status(order_id)["status"] == "paid", message="paid")

    def approvals():
        messages = shopper.get(f"/walkthrough/api/journeys/{journey}").json()["messages"]
        return [m for m in messages if m["step"] == "approval"]
    wait_for(lambda: len(approvals()) == 3, message="three approval attempts recorded")
    wrong_pin, not_a_device, approved = approvals()
    assert wrong_pin["refusal"]["factor"] == "knowledge:pin" and "Wrong PIN" in wrong_pin["refusal"]["reason"]
    assert not_a_device["refusal"]["factor"] == "possession:device"
    assert approved["refusal"] is None


def test_the_push_is_shown_as_the_bank_encrypted_it(live, push_service, customer_factory):
    """Not ciphertext garbage: the plaintext JSON, the headers, the VAPID claims and why the push service cannot read it."""
    username, password, pin, card = customer_factory()
    phone = BankCustomer(live.url, username, password, pin)
    phone.register_device(push_service.subscribe())
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("headlamp")
    order_id, _ = shopper.checkout(card)
    journey = in_app_db(live, lambda: db.session.scalar(select(Order.journey_id).where(Order.id == order_id)))

    def push_message():
        messages = shopper.get(f"/walkthrough/api/journeys/{journey}").json()["messages"]
        return next((m for m in messages if m["step"] == "push_send"), None)
    wait_for(push_message, message="the push recorded")
    push = push_message()["details"]["push"]
    assert push["plaintext"]["type"] == "payment_request" and push["plaintext"]["binding_code"]
    assert {name.lower() for name in push["headers"]} >= {"content-encoding", "ttl", "urgency", "topic"}
    assert push["vapid"]["claims"]["sub"] and push["vapid"]["claims"]["aud"].startswith("http")
    assert push["vapid"]["signature"].endswith("(shortened)") and push["ciphertext_bytes"] > 0
    assert "cannot read it" in push["why"]
    assert "\ufffd" not in json.dumps(push_message())
    # And the push service never heard the journey's id.
    assert push_service.header_names_seen and all("traceparent" not in names
                                                  for names in push_service.header_names_seen)


def test_every_journey_shows_how_the_shop_proves_itself_to_the_bank(live, customer_factory):
    """The token is cached for its lifetime: a later checkout shows it (redacted) on the payment request,
    with where and when it was issued, and the token call itself shows its Basic credentials, redacted."""
    username, password, pin, card = customer_factory()
    _forget_bank_token(live)
    shopper = Shopper.signed_in(live)
    journeys = []
    for _ in range(2):
        shopper.fill_cart("headlamp")
        order_id, _ = shopper.checkout(card)
        journeys.append(in_app_db(live, lambda: db.session.scalar(select(Order.journey_id)
                                                                   .where(Order.id == order_id))))

    def messages(journey):  # a journey exists once its first message is recorded (off the request's path)
        return shopper.get(f"/walkthrough/api/journeys/{journey}").json().get("messages", [])
    wait_for(lambda: any(m["step"] == "payment_request" for m in messages(journeys[1])), message="second request")
    first, second = messages(journeys[0]), messages(journeys[1])
    token_call = next(m for m in first if m["step"] == "bank_token")
    assert token_call["details"]["request"]["headers"]["Authorization"] == "Basic •••• (redacted)"
    assert not any(m["step"] == "bank_token" for m in second)  # cached
    request = next(m for m in second if m["step"] == "payment_request")
    assert request["details"]["request"]["headers"]["Authorization"] == "Bearer •••• (redacted)"
    story = request["details"]["bearer_token"]
    assert story["issued_in_journey"] == journeys[0] and story["issued_in"] == "an earlier checkout of yours"
    assert story["expires_at"] > story["issued_at"]


def test_the_journey_list_is_the_learners_own(live, customer_factory):
    """What a live walkthrough page fetches when its socket connects: the learner's own journeys, newest
    first, never another learner's, and nothing for a browser signed in to nobody."""
    username, password, pin, card = customer_factory()
    owner = Shopper.signed_in(live)
    owner.fill_cart("headlamp")
    order_id, _ = owner.checkout(card)
    journey = in_app_db(live, lambda: db.session.scalar(select(Order.journey_id).where(Order.id == order_id)))
    wait_for(lambda: journey in [j["id"] for j in owner.get("/walkthrough/api/journeys").json()["journeys"]],
             message="the checkout's journey listed")
    assert owner.get("/walkthrough/api/journeys").json()["journeys"][0]["id"] == journey  # the newest
    other = Shopper.signed_in(live)
    assert journey not in [j["id"] for j in other.get("/walkthrough/api/journeys").json()["journeys"]]
    anonymous = requests.get(f"{live.url}/walkthrough/api/journeys", timeout=10)
    assert anonymous.status_code == 404 and anonymous.json()["error"] == "not_found"

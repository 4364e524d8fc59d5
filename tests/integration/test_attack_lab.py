"""The attack lab: each attack really reaches the bank or the shop, is refused, and changes nothing.

Nothing changed is checked in the databases themselves: the order and its payment attempt, the
events the shop has applied, the bank's payment requests and its ledger.
"""
import re
import time

import pytest
from sqlalchemy import func, select

from app.bank.models import LedgerEntry, PaymentRequest
from app.extensions import db
from app.shop.models import Order, ReceivedWebhook

from ..support import BankCustomer, Shopper, in_app_db, wait_for

META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def run_attack(shopper, slug):
    page = shopper.get("/lab/")
    token = META_CSRF.search(page.text).group(1)
    return shopper.http.post(f"{shopper.base}/lab/api/attacks/{slug}", headers={"X-CSRFToken": token}, timeout=30)


def targets(shopper):
    return shopper.get("/lab/api/targets").json()


def state(live, order_id):
    """Everything an attack on this order could move."""
    def read():
        order = db.session.get(Order, order_id)
        return {"order": order.status, "payment": order.payment.status,
                "events_applied": db.session.scalar(select(func.count()).select_from(ReceivedWebhook)),
                "payment_requests": db.session.scalar(select(func.count()).select_from(PaymentRequest)),
                "ledger_entries": db.session.scalar(select(func.count()).select_from(LedgerEntry))}
    return in_app_db(live, read)


def attacker_messages(shopper, journey_id):
    messages = shopper.get(f"/walkthrough/api/journeys/{journey_id}").json()["messages"]
    return [m for m in messages if m["from"] == "attacker"]


@pytest.fixture
def waiting_checkout(live, customer_factory):
    """A learner signed in to the shop with an order waiting for their phone: (shopper, phone, pin, order id)."""
    username, password, pin, card = customer_factory()
    phone = BankCustomer(live.url, username, password, pin)
    phone.register_device()
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("headlamp")
    order_id, _ = shopper.checkout(card)
    wait_for(lambda: targets(shopper)["payment"], message="the lab sees the payment request")
    return shopper, phone, pin, order_id


def test_the_lab_acts_only_for_a_learner_signed_in_to_the_shop(live):
    stranger = Shopper(live.url)
    page = stranger.get("/lab/")
    assert page.status_code == 200 and "sign in to the shop first" in page.text
    assert stranger.get("/lab/api/targets").status_code == 401
    # No CSRF token (another site's form or script): refused before anything is sent.
    refused = stranger.http.post(f"{live.url}/lab/api/attacks/any-old-server", timeout=10)
    assert refused.status_code == 400 and refused.headers["Content-Type"].startswith("application/json")


def test_any_old_server_gets_401_and_no_payment_is_created(live, waiting_checkout):
    shopper, _phone, _pin, order_id = waiting_checkout
    before = state(live, order_id)
    response = run_attack(shopper, "any-old-server")
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert outcome["held"] is True, outcome
    assert [a["status"] for a in outcome["attempts"]] == [401, 401]
    assert all("/bank/api/v1/payment-requests" in a["url"] and a["stopped_by"] for a in outcome["attempts"])
    assert state(live, order_id) == before
    drawn = wait_for(lambda: attacker_messages(shopper, outcome["journey_id"]), message="the red arrows")
    assert {m["to"] for m in drawn} == {"bank"} and all(m["refusal"] and m["step"] == "attack" for m in drawn)
    assert "Authorization" in str(drawn[-1]["details"]["request"]["headers"])
    assert "attack" in drawn[0]["details"] and drawn[0]["details"]["attack"]["name"] == "Any old server asks for a payment"


def test_a_forged_webhook_is_refused_and_the_order_stays_waiting(live, waiting_checkout):
    shopper, _phone, _pin, order_id = waiting_checkout
    before = state(live, order_id)
    assert before["payment"] == "pending"
    outcome = run_attack(shopper, "forge-webhook").json()
    assert outcome["held"] is True and outcome["order_id"] == order_id, outcome
    assert [a["status"] for a in outcome["attempts"]] == [400, 400]
    assert "No Bank-Signature" in outcome["attempts"][0]["stopped_by"]
    assert "Signature mismatch" in outcome["attempts"][1]["stopped_by"]
    assert state(live, order_id) == before


def test_a_captured_webhook_tampered_or_replayed_changes_nothing(live, waiting_checkout):
    shopper, phone, pin, order_id = waiting_checkout
    assert run_attack(shopper, "replay-webhook").status_code == 409  # nothing caught on the wire yet
    [approval] = phone.pending()
    phone.decide(approval["id"], "approve", pin=pin)
    wait_for(lambda: state(live, order_id)["payment"] == "approved", message="paid")
    wait_for(lambda: targets(shopper)["captured_webhook"], message="the wiretap caught the bank's event")
    before = state(live, order_id)

    tampered = run_attack(shopper, "tamper-webhook").json()
    assert tampered["held"] is True, tampered
    assert [a["status"] for a in tampered["attempts"]] == [400]
    assert "Signature mismatch" in tampered["attempts"][0]["stopped_by"]

    replayed = run_attack(shopper, "replay-webhook").json()
    assert replayed["held"] is True, replayed
    assert [a["status"] for a in replayed["attempts"]] == [200, 400]  # deduplicated; then stale
    assert "Deduplicated" in replayed["attempts"][0]["stopped_by"]
    assert "Stale" in replayed["attempts"][1]["stopped_by"]
    assert state(live, order_id) == before


def test_a_replay_after_the_tolerance_is_refused_as_stale(live, waiting_checkout):
    shopper, phone, pin, order_id = waiting_checkout
    [approval] = phone.pending()
    phone.decide(approval["id"], "approve", pin=pin)
    wait_for(lambda: targets(shopper)["captured_webhook"], message="the wiretap caught the bank's event")
    before = state(live, order_id)
    live.app.config["WEBHOOK_TOLERANCE_SECONDS"] = 1
    try:
        time.sleep(2.1)
        replayed = run_attack(shopper, "replay-webhook").json()
    finally:
        live.app.config["WEBHOOK_TOLERANCE_SECONDS"] = 300
    assert replayed["held"] is True
    assert [a["status"] for a in replayed["attempts"]] == [400, 400]
    assert all("Stale" in a["stopped_by"] for a in replayed["attempts"])
    assert state(live, order_id) == before


def test_the_lab_never_aims_at_another_learners_payment(live, waiting_checkout):
    """Another learner's checkout (with its captured webhook) is never a target of this learner's lab."""
    owner, phone, pin, _order_id = waiting_checkout
    [approval] = phone.pending()
    phone.decide(approval["id"], "approve", pin=pin)
    wait_for(lambda: targets(owner)["captured_webhook"], message="the owner's event caught")
    other = Shopper.signed_in(live)
    assert targets(other) == {"payment": None, "captured_webhook": None}
    for slug in ("forge-webhook", "tamper-webhook", "replay-webhook"):
        response = run_attack(other, slug)
        assert response.status_code == 409 and response.json()["error"] == "needs_set_up", response.text


def test_an_unknown_attack_is_a_json_404(live):
    shopper = Shopper.signed_in(live)
    response = run_attack(shopper, "drop-tables")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def run_attack_with(shopper, slug, **inputs):
    page = shopper.get("/lab/")
    token = META_CSRF.search(page.text).group(1)
    return shopper.http.post(f"{shopper.base}/lab/api/attacks/{slug}", json=inputs,
                             headers={"X-CSRFToken": token}, timeout=30)


def test_a_stolen_password_opens_the_bank_app_but_cannot_approve(live, customer_factory):
    """Refused for possession before the PIN is looked at: no PIN try spent, no device added, still waiting."""
    from app.bank.models import Card, Customer, Device
    username, password, pin, card = customer_factory()
    phone = BankCustomer(live.url, username, password, pin)
    phone.register_device()
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("headlamp")
    order_id, _ = shopper.checkout(card)
    wait_for(lambda: targets(shopper)["payment"], message="the lab sees the payment request")

    def bank_side():
        customer = db.session.scalar(select(Customer).where(Customer.username == username))
        return {"devices": db.session.scalar(select(func.count()).select_from(Device)
                                             .where(Device.customer_id == customer.id)),
                "failed_pins": db.session.scalar(select(Card.failed_pin_attempts)
                                                 .where(Card.customer_id == customer.id))}
    before, bank_before = state(live, order_id), in_app_db(live, bank_side)

    wrong = run_attack_with(shopper, "stolen-password", username=username, password="not-" + password)
    assert wrong.status_code == 409 and "did not accept" in wrong.json()["message"]
    for junk in ({}, {"username": username}, {"username": "a\x00b", "password": "x"}, {"username": 7, "password": "x"},
                 {"username": "u" * 41, "password": "x"}):
        refused = run_attack_with(shopper, "stolen-password", **junk)
        assert refused.status_code == 422 and refused.json()["error"] == "invalid_field", (junk, refused.text)

    outcome = run_attack_with(shopper, "stolen-password", username=username, password=password).json()
    assert outcome["held"] is True, outcome
    [approve] = outcome["attempts"]
    assert approve["url"].endswith("/approve") and approve["status"] == 302
    assert "Not a registered device" in approve["stopped_by"]
    assert state(live, order_id) == before and before["payment"] == "pending"
    assert in_app_db(live, bank_side) == bank_before
    assert [a["id"] for a in phone.pending()] != []  # the real phone still has it to decide
    drawn = wait_for(lambda: [m for m in attacker_messages(shopper, outcome["journey_id"])
                              if m["label"].endswith("/approve")], message="the refused approval drawn")
    assert drawn[0]["refusal"]["factor"] == "possession:device"
    stored = str(attacker_messages(shopper, outcome["journey_id"]))
    assert password not in stored  # the stolen password is redacted like any other


def test_someone_elses_bank_log_in_finds_nothing_of_this_learner(live, waiting_checkout, customer_factory):
    shopper, _phone, _pin, order_id = waiting_checkout
    other_username, other_password, _other_pin, _card = customer_factory()
    response = run_attack_with(shopper, "stolen-password", username=other_username, password=other_password)
    assert response.status_code == 409 and "not waiting in that bank account" in response.json()["message"]


def test_the_pin_guessing_attack_is_not_the_servers_to_send(live):
    """Attack 7 needs the phone's own cookies: the lab's server refuses to run it and says where it runs."""
    shopper = Shopper.signed_in(live)
    response = run_attack(shopper, "guess-pin")
    assert response.status_code == 409 and "runs in your phone's browser" in response.json()["message"]
    response = run_attack(shopper, "double-pay")
    assert response.status_code == 409 and "runs in your laptop's browser" in response.json()["message"]

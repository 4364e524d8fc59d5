"""The attacks of issue 8 on the factors, performed over real HTTP: each must fail.

A stolen password must not turn into a registered device (the PIN lockout holds on
every door that checks a PIN), and a push endpoint seen anywhere must not move the
card holder's notifications to somebody else.
"""
import json

from sqlalchemy import func, select

from app.bank import services as bank_services
from app.bank import cards as bank_cards
from app.bank.models import Card, Customer, Device, Passkey
from app.extensions import db

from ..support import BankCustomer, Shopper, in_app_db, wait_for


def _wrong(pin):
    return "0000" if pin != "0000" else "1111"


def _lock_the_card(thief, pin):
    """Five wrong PINs through the device-registration door."""
    answers = [thief.api("POST", "/bank/app/api/devices", json={"name": "Thief", "pin": _wrong(pin)})
               for _ in range(5)]
    assert [a.status_code for a in answers] == [403] * 5
    assert answers[-1].json()["error"] == "card_locked"


def _card(live, username):
    return in_app_db(live, lambda: db.session.scalar(select(Card).join(Customer).where(Customer.username == username)))


def test_a_locked_card_gives_one_answer_for_every_pin_on_every_door(live, customer_factory):
    """Attack 1: after the lock, the right PIN must look exactly like a wrong one, and add nothing."""
    username, password, pin, card = customer_factory()
    thief = BankCustomer(live.url, username, password, pin=_wrong(pin))  # the password is stolen
    _lock_the_card(thief, pin)

    doors = [("/bank/app/api/devices", {"name": "Thief"}), ("/bank/app/api/passkeys/options", {})]
    for path, body in doors:
        right = thief.api("POST", path, json={**body, "pin": pin})
        wrong = thief.api("POST", path, json={**body, "pin": _wrong(pin)})
        assert (right.status_code, right.json()) == (wrong.status_code, wrong.json()), path
        assert right.status_code == 403 and right.json()["error"] == "card_locked"

    locked = _card(live, username)
    assert (locked.status, locked.failed_pin_attempts) == ("blocked", 5)  # the right PIN reset nothing
    assert "bank_device" not in thief.http.cookies
    assert in_app_db(live, lambda: db.session.scalar(
        select(func.count(Device.id)).where(Device.customer_id == locked.customer_id))) == 0


def test_an_empty_pin_is_not_a_wrong_pin(live, customer_factory):
    username, password, pin, card = customer_factory()
    phone = BankCustomer(live.url, username, password, pin)
    for path in ("/bank/app/api/devices", "/bank/app/api/passkeys/options"):
        answer = phone.api("POST", path, json={"pin": ""})
        assert answer.status_code == 422 and answer.json()["error"] == "pin_required"
    assert _card(live, username).failed_pin_attempts == 0


def test_pin_checks_are_rate_limited_per_customer_not_per_address(tmp_path, seeded_instance):
    """Attack 1/10: guessing is slowed per customer, whichever address the guesses come from."""
    import shutil
    from ..support import LiveServer
    shutil.copytree(seeded_instance, tmp_path / "instance")
    server = LiveServer(tmp_path / "instance", RATELIMIT_PIN="3 per minute", BACKGROUND_WORKERS=False).start()
    try:
        with server.app.app_context():
            customer = bank_services.create_customer("pinlimit", "correct-horse", "1234", 0)
            customer_id = customer.id
            db.session.remove()
        first = BankCustomer(server.url, "pinlimit", "correct-horse", pin="0000")
        statuses = [first.api("POST", "/bank/app/api/devices", json={"pin": "0000"}).status_code for _ in range(3)]
        assert statuses == [403, 403, 403]
        # Another address (127.0.0.2 is loopback too) and another session: still the same customer's allowance.
        other = BankCustomer(server.url, "pinlimit", "correct-horse", from_address="127.0.0.2")
        limited = other.api("POST", "/bank/app/api/devices", json={"pin": "1234"})
        assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
        with server.app.app_context():
            assert db.session.scalar(select(func.count(Device.id)).where(Device.customer_id == customer_id)) == 0
            db.session.remove()
    finally:
        server.stop()


def test_unlocking_removes_factors_added_while_locked(app):
    """Whatever slipped in while the card was locked may be the guesser's: unlocking clears it."""
    from app.common.clock import utcnow
    customer = db.session.scalar(select(Customer).where(Customer.username == "thandi"))
    card = bank_cards.customer_card(customer)
    before = Device(customer_id=customer.id, name="Thandi's phone", token_hash="a" * 64)
    db.session.add(before)
    db.session.commit()
    for _ in range(5):
        try:
            bank_cards.check_card_pin(card, "0000")
        except (bank_cards.WrongPin, bank_cards.CardLocked):
            pass
    assert card.locked_at is not None
    db.session.add(Device(customer_id=customer.id, name="Thief", token_hash="b" * 64, created_at=utcnow()))
    db.session.add(Passkey(customer_id=customer.id, credential_id="thief", public_key=b"k", created_at=utcnow()))
    db.session.commit()

    unlocked = bank_cards.unlock_card(card.number)
    assert (unlocked.status, unlocked.failed_pin_attempts, unlocked.factors_removed) == ("active", 0, 2)
    assert [d.name for d in db.session.scalars(select(Device).where(Device.customer_id == customer.id))] == [
        "Thandi's phone"]
    assert db.session.scalar(select(func.count(Passkey.id)).where(Passkey.customer_id == customer.id)) == 0


def test_a_push_endpoint_alone_cannot_move_a_subscription(live, push_service, customer_factory):
    """Attack 2: the old endpoint is no credential; only the device itself (its token cookie) is."""
    username, password, pin, card = customer_factory()
    victim = BankCustomer(live.url, username, password, pin)
    victim_subscription = push_service.subscribe()
    victim.register_device(victim_subscription)
    attacker_subscription = push_service.subscribe()

    import requests
    anonymous = requests.post(f"{live.url}/bank/app/api/devices/resubscribe", timeout=10, json={
        "old_endpoint": victim_subscription["endpoint"], "subscription": attacker_subscription})
    assert anonymous.status_code == 403 and anonymous.json()["error"] == "not_a_registered_device"
    for garbage in ([1, 2], "x", None, {"subscription": "x"}):
        answer = requests.post(f"{live.url}/bank/app/api/devices/resubscribe", timeout=10,
                               data=json.dumps(garbage), headers={"Content-Type": "application/json"})
        assert 400 <= answer.status_code < 500, garbage

    shopper = Shopper.signed_in(live)
    shopper.fill_cart("headlamp")
    shopper.checkout(card)
    wait_for(lambda: push_service.messages_for(victim_subscription), message="the push reaching the victim")
    assert push_service.messages_for(attacker_subscription) == []

    # The device itself may move its subscription: its request carries the token cookie.
    rotated = push_service.subscribe()
    moved = victim.http.post(f"{live.url}/bank/app/api/devices/resubscribe", timeout=10, json={"subscription": rotated})
    assert moved.status_code == 200, moved.text
    assert in_app_db(live, lambda: db.session.scalar(select(Device.endpoint).where(
        Device.id == victim.device["id"]))) == rotated["endpoint"]


def test_a_journey_does_not_show_the_card_holders_identifiers(live, push_service):
    """Attack 2: typing somebody's card number must not reveal their push endpoint or their name."""
    with live.app.app_context():
        holder = bank_services.create_customer("nomsavictim", "correct-horse", "4321", 500000,
                                               full_name="Nomsa Victim-Ndlovu")
        card = bank_cards.customer_card(holder).number
        db.session.remove()
    victim = BankCustomer(live.url, "nomsavictim", "correct-horse", "4321")
    subscription = push_service.subscribe()
    victim.register_device(subscription)

    attacker = Shopper.signed_in(live)
    attacker.fill_cart("headlamp")
    order_id, _ = attacker.checkout(card)
    journey = attacker.order_status(order_id)["journey"]
    wait_for(lambda: push_service.messages_for(subscription), message="the push")
    [approval] = victim.pending()
    victim.decide(approval["id"], "approve", pin="4321")
    wait_for(lambda: attacker.order_status(order_id)["status"] == "paid", message="paid")

    def messages():
        return attacker.get(f"/walkthrough/api/journeys/{journey}").json()["messages"]
    wait_for(lambda: any(m["step"] == "push_send" for m in messages()) and
             any(m["step"] == "ledger" for m in messages()), message="the push and ledger messages")
    text = json.dumps(messages())
    endpoint_path = subscription["endpoint"].split("/", 3)[3]
    assert endpoint_path not in text
    assert "Nomsa" not in text and "Victim-Ndlovu" not in text and "nomsavictim" not in text
    push = next(m for m in messages() if m["step"] == "push_send")
    assert push["details"]["url"].startswith("http://127.0.0.1:")  # which push service: fine to see
    ledger = next(m for m in messages() if m["step"] == "ledger")
    assert "The card holder's account" in [e["account"] for e in ledger["details"]["entries"]]
    assert sum(e["amount"] for e in ledger["details"]["entries"]) == 0


def test_registering_right_after_a_wrong_pin_works(live, customer_factory):
    """Point 9: a real customer mistypes once, then registers: that used to answer 500."""
    username, password, pin, card = customer_factory()
    phone = BankCustomer(live.url, username, password, pin)
    wrong = phone.api("POST", "/bank/app/api/devices", json={"name": "My phone", "pin": _wrong(pin)})
    assert wrong.status_code == 403
    device = phone.register_device()
    assert device["this_device"] and device["name"] == "Test phone"
    assert _card(live, username).failed_pin_attempts == 0


def test_the_bank_apps_json_apis_refuse_what_is_not_a_json_object(live, customer_factory):
    """Point 9: lists, numbers, strings and wrongly typed fields are a 4xx, never a 500."""
    username, password, pin, card = customer_factory()
    phone = BankCustomer(live.url, username, password, pin)
    bodies = ["[1, 2]", "3", '"pin"', "null", "{", '{"pin": 1234}', '{"pin": ["1234"]}', '{"name": {"x": 1}}',
              '{"subscription": [1]}', '{"id": 5}', '{"credential": []}']
    for path in ("/bank/app/api/devices", "/bank/app/api/passkeys/options", "/bank/app/api/passkeys",
                 "/bank/app/api/push/receipt", "/bank/app/api/devices/resubscribe"):
        for body in bodies:
            answer = phone.http.post(f"{live.url}{path}", data=body, timeout=10,
                                     headers={"Content-Type": "application/json", "X-CSRFToken": _csrf(phone)})
            assert 400 <= answer.status_code < 500, (path, body, answer.status_code)
            assert answer.headers["Content-Type"].startswith("application/json"), (path, body)
    assert _card(live, username).failed_pin_attempts == 0  # a PIN that is not a string was never checked


def _csrf(customer):
    import re
    page = customer.http.get(f"{customer.base}/bank/app/", timeout=10).text
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)


def test_sign_in_limits_count_per_account_not_only_per_address(tmp_path, seeded_instance):
    """Point 10: a second address gets no fresh allowance on the same account, and a genuine user
    sharing the attacker's address still signs in with the right password."""
    import shutil
    import requests as plain
    from ..support import FromAddress, LiveServer, csrf_token
    shutil.copytree(seeded_instance, tmp_path / "instance")
    server = LiveServer(tmp_path / "instance", RATELIMIT_SIGNIN="3 per minute", RATELIMIT_SIGNIN_ACCOUNT="5 per hour",
                        RATELIMIT_SIGNIN_ADDRESS="100 per minute", BACKGROUND_WORKERS=False).start()
    try:
        with server.app.app_context():
            for name in ("victim10", "genuine10"):
                bank_services.create_customer(name, "correct-horse", "1234", 0)
            db.session.remove()

        def attempt(address, username, password):
            http = plain.Session()
            http.mount("http://", FromAddress(address))
            page = http.get(f"{server.url}/bank/app/login", timeout=10).text
            return http.post(f"{server.url}/bank/app/login", timeout=10, allow_redirects=False, data={
                "csrf_token": csrf_token(page), "username": username, "password": password}).status_code

        assert [attempt("127.0.0.1", "victim10", "guess") for _ in range(4)] == [200, 200, 200, 429]
        assert [attempt("127.0.0.2", "victim10", "guess") for _ in range(3)] == [200, 200, 429]  # 5 per account
        assert attempt("127.0.0.3", "victim10", "correct-horse") == 429  # the account is shielded everywhere
        assert attempt("127.0.0.1", "genuine10", "correct-horse") == 302  # the shared address is not locked out
    finally:
        server.stop()

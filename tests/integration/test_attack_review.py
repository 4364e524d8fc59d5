"""The holes a review of the issue 8 fixes found, each performed as the attack: each must fail now.

Journeys planted mid sign-in, sockets that outlive a sign-out, the card holder's push endpoint
in an error message, a passkey answer in a journey, a push endpoint spelled another way, and
rate limits that another spelling of an account, a race, or another PIN door got around.
"""
import json
import shutil
import threading

import requests
import socketio

from app.bank import services as bank_services
from app.bank import cards as bank_cards
from app.extensions import db
from app.walkthrough.redaction import redact_body

from ..support import BankCustomer, FromAddress, LiveServer, Shopper, csrf_token, free_port, new_identity, wait_for


def _session_of(live, http, server):
    cookie = [c for c in http.cookies if c.name == f"{server}_session"][-1].value
    return live.app.session_interface.get_signing_serializer(live.app, server).loads(cookie)


def test_a_sign_in_planted_mid_flow_does_not_hand_over_the_journey(live, customer_factory):
    """The attacker starts a sign-in (journey J, OAuth state), makes J theirs, plants the cookie,
    and sends the victim the authorize URL: the victim's checkout must not land in J."""
    attacker = Shopper.signed_in(live)
    start = attacker.http.get(f"{live.url}/shop/signin/paylab", allow_redirects=False, timeout=10)
    authorize_url = start.headers["Location"]
    journey = _session_of(live, attacker.http, "shop")["journey_id"]
    page = attacker.get("/shop/").text
    attacker.http.post(f"{live.url}/shop/checkout/pay", data={"csrf_token": csrf_token(page)}, timeout=10)
    # J is the attacker's once the recorder (off the request path, in batches) has stored its Pay now.
    wait_for(lambda: attacker.get(f"/walkthrough/api/journeys/{journey}").status_code == 200,
             message="the attacker's journey recorded")

    victim = Shopper(live.url)
    for cookie in attacker.http.cookies:
        if cookie.name == "shop_session":
            victim.http.cookies.set_cookie(cookie)
    email, password = new_identity(live.app)
    signin = victim.http.get(authorize_url, timeout=10)
    page = victim.http.post(signin.url, timeout=10, data={"csrf_token": csrf_token(signin.text),
                                                          "email": email, "password": password})
    if "wants to use your PayLab ID" in page.text:
        page = victim.http.post(page.url, timeout=10, data={"csrf_token": csrf_token(page.text), "decision": "allow"})
    assert 'data-testid="signed-in-as"' in page.text
    assert _session_of(live, victim.http, "shop")["journey_id"] != journey

    username, _, _, card = customer_factory()
    victim.fill_cart("headlamp")
    victim.checkout(card)
    seen = json.dumps(attacker.get(f"/walkthrough/api/journeys/{journey}").json())
    assert email not in seen
    assert "12 Long Street" not in seen  # the victim's delivery address (in their Pay now)
    steps = [m["step"] for m in json.loads(seen)["messages"]]
    assert steps.count("pay_now") == 1 and "payment_request" not in steps  # the attacker's empty Pay now only


def _socket(live, namespace, cookie_name, cookie_value, event):
    client = socketio.Client(reconnection=False)
    received = []
    client.on(event, received.append, namespace=namespace)
    client.connect(live.url, namespaces=[namespace], transports=["polling"],
                   headers={"Cookie": f"{cookie_name}={cookie_value}"}, wait_timeout=5)
    return client, received


def test_a_socket_opened_before_log_out_is_closed_by_it(live, customer_factory):
    username, password, pin, card = customer_factory()
    victim = BankCustomer(live.url, username, password, pin)
    spy, received = _socket(live, "/bank", "bank_session", victim.http.cookies.get("bank_session"),
                            "payment_request")
    try:
        home = victim.http.get(f"{live.url}/bank/app/", timeout=10).text
        victim.http.post(f"{live.url}/bank/app/logout", timeout=10, data={"csrf_token": csrf_token(home)})
        wait_for(lambda: not spy.connected, message="the server closing the signed-out socket")
        shopper = Shopper.signed_in(live)
        shopper.fill_cart("headlamp")
        shopper.checkout(card)
        wait_for(lambda: BankCustomer(live.url, username, password, pin).pending(), message="the payment request")
        assert received == []
    finally:
        spy.disconnect()


def test_a_socket_of_an_idle_bank_session_is_closed_by_the_sweep(live, customer_factory):
    from datetime import timedelta

    from sqlalchemy import update

    from app.common.clock import utcnow
    from app.common.signins import SignIn, end_idle_sign_ins
    username, password, pin, card = customer_factory()
    victim = BankCustomer(live.url, username, password, pin)
    spy, received = _socket(live, "/bank", "bank_session", victim.http.cookies.get("bank_session"),
                            "payment_request")
    try:
        with live.app.app_context():
            db.session.execute(update(SignIn).where(SignIn.principal.like("customer:%"), SignIn.ended_at.is_(None))
                               .values(last_seen_at=utcnow() - timedelta(hours=1)))
            db.session.commit()
            assert end_idle_sign_ins("bank", live.app.config["BANK_SESSION_IDLE_SECONDS"]) >= 1
            db.session.remove()
        wait_for(lambda: not spy.connected, message="the sweep closing the idle session's socket")
    finally:
        spy.disconnect()


def test_an_unreachable_push_service_does_not_quote_the_holders_endpoint(live, push_service):
    with live.app.app_context():
        holder = bank_services.create_customer("errorholder", "correct-horse", "4321", 500000)
        card = bank_cards.customer_card(holder).number
        db.session.remove()
    victim = BankCustomer(live.url, "errorholder", "correct-horse", "4321")
    subscription = push_service.subscribe()
    subscription["endpoint"] = f"http://127.0.0.1:{free_port()}/push/SECRET-SUBSCRIPTION-TOKEN"  # nobody listens
    victim.register_device(subscription)
    attacker = Shopper.signed_in(live)
    attacker.fill_cart("headlamp")
    order_id, _ = attacker.checkout(card)
    journey = attacker.order_status(order_id)["journey"]

    def messages():
        return attacker.get(f"/walkthrough/api/journeys/{journey}").json()["messages"]
    wait_for(lambda: any(m["step"] == "push_send" for m in messages()), timeout=15, message="the push attempt")
    push = next(m for m in messages() if m["step"] == "push_send")
    assert push["details"]["error"] == "connection refused"
    assert "SECRET-SUBSCRIPTION-TOKEN" not in json.dumps(messages())


def test_a_passkey_answer_is_hidden_in_a_journey():
    body = json.dumps({"credential": {"id": "CRED-ID-OF-HOLDER", "rawId": "CRED-ID-OF-HOLDER", "type": "public-key",
                                      "response": {"userHandle": "Y3VzdG9tZXItNDI", "signature": "z"}}})
    shown = json.dumps(redact_body(body))
    assert "CRED-ID-OF-HOLDER" not in shown and "Y3VzdG9tZXItNDI" not in shown


def test_another_spelling_of_a_push_endpoint_is_the_same_endpoint(live, push_service, customer_factory):
    victim_name, password, pin, _ = customer_factory()
    victim = BankCustomer(live.url, victim_name, password, pin)
    victim_subscription = push_service.subscribe()
    victim.register_device(victim_subscription)
    thief_name, thief_password, thief_pin, _ = customer_factory()
    thief = BankCustomer(live.url, thief_name, thief_password, thief_pin)
    own_keys = push_service.subscribe()["keys"]
    endpoint = victim_subscription["endpoint"]
    host_port, path = endpoint.split("://", 1)[1].split("/", 1)
    for spelling in (endpoint, endpoint + "#x", f"http://{host_port.upper()}/{path}".replace("HTTP", "http")):
        answer = thief.api("POST", "/bank/app/api/devices", json={"pin": thief_pin, "subscription": {
            "endpoint": spelling, "keys": own_keys}})
        assert answer.status_code == 422, spelling


def _strict_server(tmp_path, seeded_instance, **limits):
    shutil.copytree(seeded_instance, tmp_path / "instance")
    return LiveServer(tmp_path / "instance", BACKGROUND_WORKERS=False, **limits).start()


def _sign_in(server, path, field, account, password, address):
    http = requests.Session()
    http.mount("http://", FromAddress(address))
    page = http.get(f"{server.url}{path}", timeout=10).text
    return http.post(f"{server.url}{path}", timeout=10, allow_redirects=False, data={
        "csrf_token": csrf_token(page), field: account, "password": password}).status_code


def test_rate_limits_hold_against_spellings_races_and_other_doors(tmp_path, seeded_instance):
    server = _strict_server(tmp_path, seeded_instance, RATELIMIT_SIGNIN="3 per minute",
                            RATELIMIT_SIGNIN_ACCOUNT="5 per hour", RATELIMIT_SIGNIN_ADDRESS="1000 per minute",
                            RATELIMIT_PIN="3 per minute")
    try:
        email, password = new_identity(server.app)
        # Another spelling of the same email (full-width letters in the domain) is the same account.
        local, domain = email.split("@")
        fullwidth = local + "@" + "".join(chr(ord(c) + 0xFEE0) if c.isalpha() else c for c in domain)
        tries = [_sign_in(server, "/idp/signin", "email", email if i % 2 else fullwidth, "wrong-password",
                          f"127.0.0.{i + 1}") for i in range(5)]
        assert tries == [200] * 5
        assert _sign_in(server, "/idp/signin", "email", fullwidth, password, "127.0.0.9") == 429

        # Racing tries from many addresses: each is counted before its password is checked.
        with server.app.app_context():
            bank_services.create_customer("racevictim", "correct-horse", "1234", 0)
            db.session.remove()
        answers = []
        barrier = threading.Barrier(8)

        def guess(i):
            barrier.wait()
            answers.append(_sign_in(server, "/bank/app/login", "username", "racevictim", "guess", f"127.0.1.{i}"))
        threads = [threading.Thread(target=guess, args=(i + 1,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert answers.count(200) <= 5 and answers.count(429) >= 3, answers

        # Each PIN door draws on the customer's one allowance.
        with server.app.app_context():
            bank_services.create_customer("doorvictim", "correct-horse", "1234", 0)
            db.session.remove()
        thief = BankCustomer(server.url, "doorvictim", "correct-horse", pin="0000")
        doors = ["/bank/app/api/devices", "/bank/app/api/devices", "/bank/app/api/passkeys/options",
                 "/bank/app/api/passkeys/options"]
        statuses = [thief.api("POST", door, json={"pin": "0000"}).status_code for door in doors]
        assert statuses == [403, 403, 403, 429]
    finally:
        server.stop()

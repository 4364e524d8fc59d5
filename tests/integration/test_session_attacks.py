"""Attacks 6 and 8 of issue 8 over real HTTP: planted sessions, copied cookies, idle bank sessions."""
from datetime import timedelta

import requests
from sqlalchemy import update

from app.common.clock import utcnow
from app.common.signins import SignIn
from app.extensions import db

from ..support import BankCustomer, Shopper, csrf_token, in_app_db, new_identity


def _session_of(live, http, server):
    """What a server's signed session cookie holds (signed, not encrypted: the test may read it)."""
    cookie = http.cookies.get(f"{server}_session")
    if cookie is None:
        return {}
    return live.app.session_interface.get_signing_serializer(live.app, server).loads(cookie)


def test_a_planted_anonymous_shop_cookie_hands_nothing_over(live, customer_factory):
    """Attack 6: the attacker plants a cookie whose journey and CSRF token they know."""
    attacker = requests.Session()
    page = attacker.get(f"{live.url}/shop/", timeout=10).text  # a page with forms: a CSRF token
    planted = _session_of(live, attacker, "shop")
    assert planted["journey_id"] and csrf_token(page)

    victim = Shopper(live.url)
    victim.http.cookies.update(attacker.cookies)  # the planted cookie
    victim.sign_in(*new_identity(live.app))
    fresh = _session_of(live, victim.http, "shop")
    assert fresh["user_id"]
    assert fresh["journey_id"] != planted["journey_id"]
    assert fresh.get("csrf_token") != planted.get("csrf_token")
    assert fresh.get("shopper_id") is None or fresh.get("shopper_id") != planted.get("shopper_id")

    username, password, pin, card = customer_factory()
    victim.fill_cart("headlamp")
    order_id, _ = victim.checkout(card)
    journey = victim.order_status(order_id)["journey"]
    assert journey != planted["journey_id"]
    # Whoever knows the planted journey id sees nothing of the victim's checkout, signed in or not.
    spy = Shopper.signed_in(live)
    for journey_id in (planted["journey_id"], journey):
        assert spy.get(f"/walkthrough/api/journeys/{journey_id}").status_code == 404


def test_the_merchant_portal_has_its_own_session(live, customer_factory):
    """Attack 6: signing in to the merchant portal must not join (or replace) a customer's bank session."""
    username, password, pin, card = customer_factory()
    browser = BankCustomer(live.url, username, password, pin)
    customer_cookie = browser.http.cookies.get("bank_session")
    login = browser.http.get(f"{live.url}/bank/merchant/login", timeout=10).text
    portal = browser.http.post(f"{live.url}/bank/merchant/login", timeout=10, data={
        "csrf_token": csrf_token(login), "client_id": live.app.config["BANK_CLIENT_ID"],
        "client_secret": live.app.config["BANK_CLIENT_SECRET"]})
    assert portal.url.endswith("/bank/merchant/")
    assert "merchant_id" not in _session_of(live, browser.http, "bank")
    assert _session_of(live, browser.http, "merchant")["merchant_id"]
    assert browser.http.cookies.get("bank_session") == customer_cookie
    assert browser.http.get(f"{live.url}/bank/app/api/approvals", timeout=10).status_code == 200

    logout_form = csrf_token(portal.text)
    browser.http.post(f"{live.url}/bank/merchant/logout", timeout=10, data={"csrf_token": logout_form})
    assert browser.http.get(f"{live.url}/bank/merchant/", timeout=10).url.endswith("/bank/merchant/login")
    assert browser.http.get(f"{live.url}/bank/app/api/approvals", timeout=10).status_code == 200


def _replay(live, cookies, path):
    stolen = requests.Session()
    stolen.cookies.update(cookies)
    return stolen.get(f"{live.url}{path}", timeout=10, allow_redirects=False)


def test_a_cookie_copied_before_sign_out_is_dead_after_it(live, customer_factory):
    """Attack 8: sign-out ends the session on the server, for every server."""
    username, password, pin, card = customer_factory()
    bank = BankCustomer(live.url, username, password, pin)
    copy = requests.utils.dict_from_cookiejar(bank.http.cookies)
    assert _replay(live, copy, "/bank/app/api/approvals").status_code == 200
    home = bank.http.get(f"{live.url}/bank/app/", timeout=10).text
    bank.http.post(f"{live.url}/bank/app/logout", timeout=10, data={"csrf_token": csrf_token(home)})
    replayed = _replay(live, copy, "/bank/app/api/approvals")
    assert replayed.status_code == 401 and replayed.json()["error"] == "not_logged_in"

    shopper = Shopper.signed_in(live)
    shop_copy = requests.utils.dict_from_cookiejar(shopper.http.cookies)
    assert _replay(live, shop_copy, "/shop/orders/").status_code == 200
    assert _replay(live, shop_copy, "/idp/").status_code == 200
    shopper.post_form("/shop/signout", {}, page="/shop/")
    assert _replay(live, shop_copy, "/shop/orders/").status_code == 302  # to sign-in
    assert _replay(live, shop_copy, "/walkthrough/api/journeys/x").status_code == 404
    shopper.post_form("/idp/signout", {}, page="/idp/")
    assert _replay(live, shop_copy, "/idp/").status_code == 302


def test_a_bank_session_ends_after_inactivity(live, customer_factory):
    """Attack 8: a banking session left alone times out (BANK_SESSION_IDLE_SECONDS)."""
    username, password, pin, card = customer_factory()
    bank = BankCustomer(live.url, username, password, pin)
    assert bank.http.get(f"{live.url}/bank/app/api/approvals", timeout=10).status_code == 200
    idle = timedelta(seconds=live.app.config["BANK_SESSION_IDLE_SECONDS"] + 1)

    def walk_away():
        db.session.execute(update(SignIn).where(SignIn.principal.like("customer:%"), SignIn.ended_at.is_(None))
                           .values(last_seen_at=utcnow() - idle))
        db.session.commit()
    in_app_db(live, walk_away)
    assert bank.http.get(f"{live.url}/bank/app/api/approvals", timeout=10).status_code == 401
    page = bank.http.get(f"{live.url}/bank/app/", timeout=10)
    assert page.url.startswith(f"{live.url}/bank/app/login")

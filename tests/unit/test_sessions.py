"""One signed session cookie per server: a bank login is never a shop session, and vice versa."""
from http.cookies import SimpleCookie

from app.cli import DEMO_CUSTOMER

from ..support import csrf_token


def _set_cookies(response):
    """{name: morsel} for every Set-Cookie header of a response."""
    cookies = {}
    for header in response.headers.getlist("Set-Cookie"):
        jar = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            cookies[name] = (morsel, header)
    return cookies


def _login_to_bank(client):
    page = client.get("/bank/app/login")
    response = client.post("/bank/app/login", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)),
        "username": DEMO_CUSTOMER["username"], "password": DEMO_CUSTOMER["password"]})
    assert response.status_code == 302 and response.headers["Location"].endswith("/bank/app/")
    return response


def _serializer(app, server):
    return app.session_interface.get_signing_serializer(app, server)


def test_the_shop_sets_shop_session_only(client):
    response = client.get("/shop/")
    assert response.status_code == 200
    cookies = _set_cookies(response)
    assert set(cookies) == {"shop_session"}


def test_the_bank_login_page_sets_bank_session_only(client):
    response = client.get("/bank/app/login")
    assert response.status_code == 200
    cookies = _set_cookies(response)
    assert set(cookies) == {"bank_session"}


def test_cookies_are_httponly_and_samesite_lax(client):
    for path, name in (("/shop/", "shop_session"), ("/bank/app/login", "bank_session")):
        morsel, header = _set_cookies(client.get(path))[name]
        assert morsel["httponly"] is True, header
        assert morsel["samesite"].lower() == "lax", header
        assert morsel["path"] == "/", header
        # served over http in tests: no Secure flag, or the browser would drop it
        assert not morsel["secure"], header


def test_a_bank_login_does_not_sign_in_to_the_shop(app, client):
    client.get("/shop/")
    shop_before = client.get_cookie("shop_session").value
    _login_to_bank(client)

    bank_value = client.get_cookie("bank_session").value
    bank_session = _serializer(app, "bank").loads(bank_value)
    assert isinstance(bank_session["customer_id"], int)  # the login really happened

    # The shop's session is untouched and never learned the customer.
    assert client.get_cookie("shop_session").value == shop_before
    assert "customer_id" not in _serializer(app, "shop").loads(shop_before)
    client.get("/shop/")
    assert "customer_id" not in _serializer(app, "shop").loads(client.get_cookie("shop_session").value)


def test_a_bank_cookie_copied_into_shop_session_is_refused(app, client):
    _login_to_bank(client)
    bank_value = client.get_cookie("bank_session").value

    # The salts differ, so the shop cannot even read it ...
    assert app.session_interface.load(app, "shop", {"shop_session": bank_value}) == {}
    assert app.session_interface.load(app, "bank", {"bank_session": bank_value})["customer_id"]

    # ... and a request carrying it gets a brand new shop session instead.
    client.set_cookie("shop_session", bank_value)
    response = client.get("/shop/")
    assert response.status_code == 200
    fresh = _set_cookies(response)["shop_session"][0].value
    assert fresh != bank_value
    shop_session = _serializer(app, "shop").loads(fresh)
    assert "customer_id" not in shop_session
    assert set(shop_session) == {"csrf_token", "journey_id"}  # brand new: the page's CSRF token and journey


def test_a_shop_cookie_copied_into_bank_session_does_not_log_in(app, client):
    client.get("/shop/")
    shop_value = client.get_cookie("shop_session").value
    client.set_cookie("bank_session", shop_value)
    response = client.get("/bank/app/")
    assert response.status_code == 302
    assert "/bank/app/login" in response.headers["Location"]


def test_bank_logout_does_not_touch_the_shop_session(app, client):
    page = client.get("/shop/").get_data(as_text=True)
    client.post("/shop/cart/add/headlamp", data={"csrf_token": csrf_token(page), "quantity": 2})
    cart = _serializer(app, "shop").loads(client.get_cookie("shop_session").value)["cart"]
    assert cart == {"headlamp": 2}
    _login_to_bank(client)
    home = client.get("/bank/app/")
    assert home.status_code == 200
    client.post("/bank/app/logout", data={"csrf_token": csrf_token(home.get_data(as_text=True))})
    assert client.get("/bank/app/").status_code == 302
    assert _serializer(app, "shop").loads(client.get_cookie("shop_session").value)["cart"] == cart


def test_cookies_are_secure_when_public_url_is_https(tmp_path, seeded_instance):
    import shutil

    from ..support import make_app
    shutil.copytree(seeded_instance, tmp_path / "instance")
    app = make_app(tmp_path / "instance", PUBLIC_URL="https://paylab.example")
    response = app.test_client().get("/bank/app/login")
    cookie = _set_cookies(response)["bank_session"][0]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"


def test_a_request_that_changes_nothing_in_the_session_sends_no_cookie_back(client):
    """A signed-cookie session is rewritten by every response that carries it. Were every response to
    carry it (Flask's refresh of a permanent session), a request sent before a page consumed a flash
    ("Wrong PIN. 2 tries left") and answered after it would put the flash back into the browser, and
    the next page would show it again beside the new one. Only a request that changes the session
    may send it."""
    _login_to_bank(client)
    client.get("/bank/app/")  # the first page after sign-in may still write (its form's CSRF token)
    for path in ("/bank/app/", "/bank/app/api/devices/this", "/bank/app/account"):
        response = client.get(path)
        assert response.status_code < 500, path
        assert "bank_session" not in _set_cookies(response), path

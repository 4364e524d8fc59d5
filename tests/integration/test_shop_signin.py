"""The shop as a relying party: what it refuses, and that any OIDC provider works by configuration."""
import base64
import json
import secrets
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.idp import services as idp
from app.shop import auth
from app.shop.models import ShopUser

from ..support import LiveServer, Shopper, csrf_token, in_app_db, new_identity
from .test_oidc import pkce_pair


def _signed_in_provider_session(server):
    email, password = new_identity(server.app)
    session = requests.Session()
    page = session.get(server.url + "/idp/signin", timeout=10)
    session.post(server.url + "/idp/signin", timeout=10,
                 data={"csrf_token": csrf_token(page.text), "email": email, "password": password})
    return session


def _real_tokens_for(live, client_id, client_secret, redirect_uri):
    """Run the code flow by hand for a client; returns (token response, nonce, verifier)."""
    session = _signed_in_provider_session(live)
    verifier, challenge = pkce_pair()
    nonce = secrets.token_urlsafe(8)
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "scope": "openid profile email", "state": "s", "nonce": nonce,
              "code_challenge": challenge, "code_challenge_method": "S256"}
    url = live.url + "/idp/authorize?" + urlencode(params)
    page = session.get(url, allow_redirects=False, timeout=10)
    if page.status_code == 200:
        page = session.post(url, allow_redirects=False, timeout=10,
                            data={"csrf_token": csrf_token(page.text), "decision": "allow"})
    code = parse_qs(urlparse(page.headers["Location"]).query)["code"][0]
    token = requests.post(live.url + "/idp/token", auth=(client_id, client_secret), timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
        "code_verifier": verifier}).json()
    return token, nonce, verifier


def _complete_with(live, token, nonce, state="st8"):
    """Run the shop's real callback logic with the token endpoint's answer replaced by `token`."""
    with live.app.test_request_context(f"/shop/auth/paylab/callback?code=c&state={state}"):
        client = auth.login_client("paylab")
        client.save_authorize_data(redirect_uri=live.url + "/shop/auth/paylab/callback", state="st8",
                                   nonce=nonce, code_verifier="v" * 50)
        client.fetch_access_token = lambda **kwargs: dict(token)  # on the registry's shared client: undo below
        try:
            user = auth.complete_sign_in(client)
            return user.issuer, user.email
        finally:
            del client.fetch_access_token
            db.session.remove()


def _tamper(id_token, **claims):
    header, payload, signature = id_token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(claims)
    payload = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return ".".join([header, payload, signature])


@pytest.fixture(scope="module")
def shop_tokens(live):
    return _real_tokens_for(live, live.app.config["OIDC_PAYLAB_CLIENT_ID"],
                            live.app.config["OIDC_PAYLAB_CLIENT_SECRET"], live.url + "/shop/auth/paylab/callback")


def test_a_genuine_id_token_signs_in(live, shop_tokens):
    token, nonce, _ = shop_tokens
    issuer, email = _complete_with(live, token, nonce)
    assert issuer == live.url + "/idp" and email.endswith("@example.co.za")


def test_a_tampered_id_token_is_refused(live, shop_tokens):
    token, nonce, _ = shop_tokens
    forged = dict(token, id_token=_tamper(token["id_token"], email="admin@example.co.za"))
    with pytest.raises(auth.SignInFailed):
        _complete_with(live, forged, nonce)


def test_a_nonce_mismatch_is_refused(live, shop_tokens):
    token, _, _ = shop_tokens
    with pytest.raises(auth.SignInFailed):
        _complete_with(live, token, nonce="not-the-nonce-we-sent")


def test_an_id_token_for_another_client_is_refused(live):
    def register():
        client, secret = idp.create_client("Another RP", ["http://localhost:9/cb"])
        return client.client_id, secret
    client_id, secret = in_app_db(live, register)
    token, nonce, _ = _real_tokens_for(live, client_id, secret, "http://localhost:9/cb")
    with pytest.raises(auth.SignInFailed):
        _complete_with(live, token, nonce)


def test_an_unknown_state_is_refused(live, shop_tokens):
    token, nonce, _ = shop_tokens
    with pytest.raises(auth.SignInFailed):
        _complete_with(live, token, nonce, state="forged")


def test_a_provider_that_says_no_gets_a_friendly_page(live):
    shopper = Shopper(live.url)
    shopper.http.get(live.url + "/shop/signin/paylab", allow_redirects=False, timeout=10)
    page = shopper.get("/shop/auth/paylab/callback?error=access_denied&error_description=The+user+said+no")
    assert page.status_code == 400 and "You chose not to share your PayLab ID with Veldt Market" in page.text


@pytest.mark.parametrize("path, data", [
    ("/shop/cart/add/headlamp", {"quantity": "1"}),
    ("/shop/signout", {}),
    ("/bank/app/login", {"username": "thandi", "password": "paylab-demo"}),
    ("/bank/merchant/login", {"client_id": "x", "client_secret": "y"}),
    ("/idp/signin", {"email": "thandi@example.co.za", "password": "paylab-demo"}),
    ("/idp/signup", {"name": "X", "email": "x@example.co.za", "password": "long-enough-pass"}),
])
def test_form_posts_without_csrf_token_get_400(live, path, data):
    response = requests.post(live.url + path, data=data, timeout=10, allow_redirects=False)
    assert response.status_code == 400
    assert "This form has expired or did not come from this site." in response.text


# --- another provider, by configuration alone ------------------------------------------------

@pytest.fixture(scope="module")
def campus_setup(tmp_path_factory):
    """A second OIDC provider (issuer on 127.0.0.1, its own keys and users) and a shop configured for both."""
    provider = LiveServer(tmp_path_factory.mktemp("campus") / "instance", SERVERS="idp")
    provider.url = provider.url.replace("localhost", "127.0.0.1")  # another host: another issuer, other cookies
    provider.app.config["PUBLIC_URL"] = provider.url
    provider.start()
    shop = LiveServer(tmp_path_factory.mktemp("shop2") / "instance", LOGIN_PROVIDERS="paylab,campus",
                      OIDC_CAMPUS_LABEL="Campus ID",
                      OIDC_CAMPUS_METADATA_URL=f"{provider.url}/idp/.well-known/openid-configuration")

    def register():
        client, secret = idp.create_client("Veldt Market", [f"{shop.url}/shop/auth/campus/callback"])
        return client.client_id, secret
    client_id, secret = in_app_db(provider, register)
    shop.app.config.update(OIDC_CAMPUS_CLIENT_ID=client_id, OIDC_CAMPUS_CLIENT_SECRET=secret)
    shop.start()
    yield provider, shop
    shop.stop()
    provider.stop()


def test_a_second_provider_at_another_issuer_signs_in_by_configuration(campus_setup):
    provider, shop = campus_setup
    page = requests.get(shop.url + "/shop/signin", timeout=10).text
    assert "Sign in with PayLab ID" in page and "Sign in with Campus ID" in page

    email, password = new_identity(provider.app)
    shopper = Shopper(shop.url)
    shopper.fill_cart("headlamp")
    landed = shopper.sign_in(email, password, provider="campus")
    assert "Lerato Dlamini" in landed.text

    def users():
        return [(u.issuer, u.email) for u in db.session.scalars(select(ShopUser))]
    assert in_app_db(shop, users) == [(f"{provider.url}/idp", email)]
    assert shopper.get("/shop/cart").text.count("Rechargeable Headlamp") >= 1  # the cart survived


def test_the_shops_provider_calls_go_through_the_traced_http_client(live):
    from app.common import tracing
    seen = []

    def observer(app, kind, details):
        if kind == "http" and details["sender"] == "shop":
            seen.append((details["method"], details["url"].split("?")[0], details["status"]))
    tracing.message_crossed.connect(observer, sender=live.app)
    try:
        Shopper.signed_in(live)
    finally:
        tracing.message_crossed.disconnect(observer, sender=live.app)
    internal = live.app.config["INTERNAL_URL"]
    assert ("POST", f"{internal}/idp/token", 200) in seen
    assert ("GET", f"{internal}/idp/userinfo", 200) in seen  # PUBLIC_URL mapped to INTERNAL_URL

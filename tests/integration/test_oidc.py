"""PayLab ID as an OpenID Connect provider, over real HTTP, held to the rules the issue lists."""
import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select, update

from app.extensions import db
from app.idp import services as idp
from app.idp.models import AuthorizationCode
from app.shop.models import ShopUser

from ..support import Shopper, csrf_token, in_app_db, new_identity

REDIRECT_URI = "http://localhost:9/callback"  # never contacted: the test reads the code off the redirect


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@pytest.fixture(scope="module")
def relying_party(live):
    """A client registered at PayLab ID just for these tests: (client_id, client_secret)."""
    def register():
        client, secret = idp.create_client("Test RP", [REDIRECT_URI])
        return client.client_id, secret
    return in_app_db(live, register)


@pytest.fixture
def browser_session(live):
    """A cookie jar signed in to PayLab ID, as a browser would be."""
    email, password = new_identity(live.app)
    session = requests.Session()
    page = session.get(live.url + "/idp/signin", timeout=10)
    response = session.post(live.url + "/idp/signin", timeout=10, data={
        "csrf_token": csrf_token(page.text), "email": email, "password": password})
    assert response.url.endswith("/idp/"), "sign-in at the provider failed"
    session.email = email
    return session


def authorize_params(rp_client_id, challenge, **changes):
    params = {"response_type": "code", "client_id": rp_client_id, "redirect_uri": REDIRECT_URI,
              "scope": "openid profile email", "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
              "code_challenge": challenge, "code_challenge_method": "S256"}
    params.update(changes)
    return {k: v for k, v in params.items() if v is not None}


def get_code(live, session, params):
    """Authorize (allowing consent if asked); returns the redirect's query parameters."""
    response = session.get(live.url + "/idp/authorize?" + urlencode(params), allow_redirects=False, timeout=10)
    if response.status_code == 200 and "wants to use your PayLab ID" in response.text:
        response = session.post(live.url + "/idp/authorize?" + urlencode(params), allow_redirects=False, timeout=10,
                                data={"csrf_token": csrf_token(response.text), "decision": "allow"})
    assert response.status_code == 302, response.text[:300]
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI)
    return {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}


def exchange(live, relying_party, code, verifier, redirect_uri=REDIRECT_URI):
    return requests.post(live.url + "/idp/token", auth=relying_party, timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier})


def test_discovery_and_jwks(live):
    config = requests.get(live.url + "/idp/.well-known/openid-configuration", timeout=10).json()
    assert config["issuer"] == live.url + "/idp"
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert config["response_types_supported"] == ["code"]
    for endpoint in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert config[endpoint].startswith(live.url + "/idp/")
    keys = requests.get(config["jwks_uri"], timeout=10).json()["keys"]
    assert [k["kty"] for k in keys] == ["RSA"] and "d" not in keys[0]  # public half only


def test_code_flow_yields_signed_id_token_with_nonce_and_userinfo(live, relying_party, browser_session):
    verifier, challenge = pkce_pair()
    params = authorize_params(relying_party[0], challenge)
    answer = get_code(live, browser_session, params)
    assert answer["state"] == params["state"]
    response = exchange(live, relying_party, answer["code"], verifier)
    assert response.status_code == 200, response.text
    token = response.json()
    assert token["token_type"] == "Bearer"

    jwks = KeySet.import_key_set(requests.get(live.url + "/idp/jwks", timeout=10).json())
    id_token = jwt.decode(token["id_token"], jwks)
    assert id_token.header["alg"] == "RS256" and id_token.header["kid"] == jwks.keys[0].kid
    claims = id_token.claims
    assert claims["iss"] == live.url + "/idp"
    assert claims["aud"] == [relying_party[0]] or claims["aud"] == relying_party[0]
    assert claims["nonce"] == params["nonce"]
    assert claims["email"] == browser_session.email

    info = requests.get(live.url + "/idp/userinfo", timeout=10,
                        headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert info["sub"] == claims["sub"] and info["email"] == browser_session.email
    assert requests.get(live.url + "/idp/userinfo", timeout=10).status_code == 401


def test_a_code_works_once(live, relying_party, browser_session):
    verifier, challenge = pkce_pair()
    code = get_code(live, browser_session, authorize_params(relying_party[0], challenge))["code"]
    assert exchange(live, relying_party, code, verifier).status_code == 200
    again = exchange(live, relying_party, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_an_old_code_is_refused(live, relying_party, browser_session):
    verifier, challenge = pkce_pair()
    code = get_code(live, browser_session, authorize_params(relying_party[0], challenge))["code"]

    def age_it():
        db.session.execute(update(AuthorizationCode).where(AuthorizationCode.code == code)
                           .values(auth_time=AuthorizationCode.auth_time - 61))
        db.session.commit()
    in_app_db(live, age_it)
    assert exchange(live, relying_party, code, verifier).json()["error"] == "invalid_grant"


def test_wrong_or_missing_code_verifier_is_refused(live, relying_party, browser_session):
    verifier, challenge = pkce_pair()
    code = get_code(live, browser_session, authorize_params(relying_party[0], challenge))["code"]
    wrong = exchange(live, relying_party, code, pkce_pair()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    code = get_code(live, browser_session, authorize_params(relying_party[0], challenge))["code"]
    missing = requests.post(live.url + "/idp/token", auth=relying_party, timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI})
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"


@pytest.mark.parametrize("changes, reason", [
    ({"code_challenge": None, "code_challenge_method": None}, "PKCE is required"),
    ({"code_challenge_method": "plain"}, "S256"),
    ({"code_challenge_method": None}, "S256"),
    ({"nonce": None}, "nonce"),
])
def test_requests_without_s256_pkce_or_nonce_are_refused_before_any_login(live, relying_party, changes, reason):
    anonymous = requests.Session()
    params = authorize_params(relying_party[0], pkce_pair()[1], **changes)
    response = anonymous.get(live.url + "/idp/authorize?" + urlencode(params), allow_redirects=False, timeout=10)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI), "refused before the sign-in page, back to the verified client"
    answer = parse_qs(urlparse(location).query)
    assert answer["error"] == ["invalid_request"] and "code" not in answer
    assert reason.lower() in answer["error_description"][0].lower()
    assert answer["state"] == [params["state"]]


@pytest.mark.parametrize("changes", [
    {"redirect_uri": "http://localhost:9/callback/extra"},
    {"redirect_uri": "http://localhost:9/"},
    {"redirect_uri": "https://evil.example/callback"},
    {"client_id": "pid_unknown"},
])
def test_bad_client_or_redirect_uri_gets_an_error_page_never_a_redirect(live, relying_party, changes):
    params = authorize_params(relying_party[0], pkce_pair()[1], **changes)
    response = requests.get(live.url + "/idp/authorize?" + urlencode(params), allow_redirects=False, timeout=10)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "This sign-in link is not valid" in response.text


def test_token_endpoint_refuses_a_wrong_client_secret(live, relying_party, browser_session):
    verifier, challenge = pkce_pair()
    code = get_code(live, browser_session, authorize_params(relying_party[0], challenge))["code"]
    response = exchange(live, (relying_party[0], "not-the-secret"), code, verifier)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_consent_is_asked_once_and_remembered(live, relying_party, browser_session):
    params = authorize_params(relying_party[0], pkce_pair()[1])
    first = browser_session.get(live.url + "/idp/authorize?" + urlencode(params), allow_redirects=False, timeout=10)
    assert first.status_code == 200 and "Test RP" in first.text and "See your email address" in first.text
    denied = browser_session.post(live.url + "/idp/authorize?" + urlencode(params), allow_redirects=False,
                                  timeout=10, data={"csrf_token": csrf_token(first.text), "decision": "deny"})
    assert parse_qs(urlparse(denied.headers["Location"]).query)["error"] == ["access_denied"]
    get_code(live, browser_session, params)  # allows
    params = authorize_params(relying_party[0], pkce_pair()[1])
    again = browser_session.get(live.url + "/idp/authorize?" + urlencode(params), allow_redirects=False, timeout=10)
    assert again.status_code == 302 and "code=" in again.headers["Location"]  # no second consent


def test_sign_in_failures_look_the_same(live):
    email, _ = new_identity(live.app)
    session = requests.Session()
    messages = []
    for address, password in ((email, "wrong-password"), ("nobody-here@example.co.za", "whatever-password")):
        page = session.get(live.url + "/idp/signin", timeout=10)
        response = session.post(live.url + "/idp/signin", timeout=10, data={
            "csrf_token": csrf_token(page.text), "email": address, "password": password})
        assert response.status_code == 200
        messages.append(response.text.split('role="alert">')[1].split("<")[0])
    assert messages[0] == messages[1] == "That email and password do not match an account."


def test_sign_up_explains_a_short_password(live):
    session = requests.Session()
    page = session.get(live.url + "/idp/signup", timeout=10)
    response = session.post(live.url + "/idp/signup", timeout=10, data={
        "csrf_token": csrf_token(page.text), "name": "Short", "email": "short@example.co.za", "password": "abc"})
    assert "Choose a password of at least 10 characters." in response.text


def test_the_shop_keys_users_by_issuer_and_subject(live):
    shopper = Shopper.signed_in(live)
    page = shopper.get("/shop/orders/")
    assert "Lerato Dlamini" in page.text

    def users():
        return [(u.issuer, u.email) for u in db.session.scalars(select(ShopUser))]
    issuers = {issuer for issuer, _ in in_app_db(live, users)}
    assert issuers == {live.url + "/idp"}


def test_next_cannot_redirect_off_site(live):
    shopper = Shopper.signed_in(live)
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        response = shopper.http.get(live.url + "/shop/signin", params={"next": target}, allow_redirects=False,
                                    timeout=10)
        assert response.status_code == 302
        assert response.headers["Location"] in ("/shop/", live.url + "/shop/")


def test_bad_state_at_the_shop_callback_is_refused(live):
    shopper = Shopper(live.url)
    start = shopper.http.get(live.url + "/shop/signin/paylab", allow_redirects=False, timeout=10)
    assert start.status_code == 302
    response = shopper.get("/shop/auth/paylab/callback?code=abc&state=forged")
    assert response.status_code == 400
    assert "Sign-in failed" in response.text
    assert 'data-testid="signed-in-as"' not in response.text

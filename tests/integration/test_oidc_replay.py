"""PayLab ID under attack: a replayed authorization code, and malformed authorize and token requests.

RFC 6749 §4.1.2: if a code is used more than once, the server must deny the request and should
revoke every token already issued from it (the replay means the code leaked). Malformed input
(control and non-ASCII characters, a Basic header that is not base64 of UTF-8) gets a clear 4xx.
"""
import base64
from urllib.parse import urlencode

import pytest
import requests
from sqlalchemy import select, update

from app.extensions import db
from app.idp.models import AuthorizationCode, Token

from ..support import csrf_token, in_app_db
from .test_oidc import (REDIRECT_URI, authorize_params, browser_session, exchange, get_code,  # noqa: F401
                        pkce_pair, relying_party)


def userinfo(live, access_token):
    return requests.get(live.url + "/idp/userinfo", timeout=10, headers={"Authorization": f"Bearer {access_token}"})


def test_replaying_a_code_revokes_the_access_token_it_issued(live, relying_party, browser_session):
    verifier, challenge = pkce_pair()
    code = get_code(live, browser_session, authorize_params(relying_party[0], challenge))["code"]
    first = exchange(live, relying_party, code, verifier)
    assert first.status_code == 200, first.text
    access_token = first.json()["access_token"]
    assert userinfo(live, access_token).status_code == 200

    replay = exchange(live, relying_party, code, verifier)  # the attacker's copy of the same code

    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert "access_token" not in replay.json()
    after = userinfo(live, access_token)
    assert after.status_code == 401, "the token issued for a replayed code must be revoked"
    assert after.json()["error"] == "invalid_token"


def test_a_replay_after_the_code_expired_still_revokes(live, relying_party, browser_session):
    verifier, challenge = pkce_pair()
    code = get_code(live, browser_session, authorize_params(relying_party[0], challenge))["code"]
    access_token = exchange(live, relying_party, code, verifier).json()["access_token"]

    def age_it():
        db.session.execute(update(AuthorizationCode).where(AuthorizationCode.code == code)
                           .values(auth_time=AuthorizationCode.auth_time - 3600))
        db.session.commit()
    in_app_db(live, age_it)

    assert exchange(live, relying_party, code, verifier).json()["error"] == "invalid_grant"
    assert userinfo(live, access_token).status_code == 401


def test_a_token_saved_after_a_racing_replay_is_void_all_the_same(live, relying_party, browser_session):
    """Two redemptions race: the replay revokes before the winner has saved its token."""
    verifier, challenge = pkce_pair()
    code = get_code(live, browser_session, authorize_params(relying_party[0], challenge))["code"]
    access_token = exchange(live, relying_party, code, verifier).json()["access_token"]
    exchange(live, relying_party, code, verifier)

    def as_if_saved_after_the_revocation():
        item = db.session.scalar(select(AuthorizationCode).where(AuthorizationCode.code == code))
        db.session.execute(update(Token).where(Token.authorization_code_id == item.id)
                           .values(access_token_revoked_at=0))
        db.session.commit()
    in_app_db(live, as_if_saved_after_the_revocation)

    assert userinfo(live, access_token).status_code == 401


def test_a_replay_revokes_only_that_codes_tokens(live, relying_party, browser_session):
    verifier, challenge = pkce_pair()
    replayed = get_code(live, browser_session, authorize_params(relying_party[0], challenge))["code"]
    exchange(live, relying_party, replayed, verifier)
    other_verifier, other_challenge = pkce_pair()
    other = get_code(live, browser_session, authorize_params(relying_party[0], other_challenge))["code"]
    other_token = exchange(live, relying_party, other, other_verifier).json()["access_token"]

    exchange(live, relying_party, replayed, verifier)

    assert userinfo(live, other_token).status_code == 200


def test_a_used_code_is_kept_marked_used_so_a_replay_can_be_recognised(live, relying_party, browser_session):
    verifier, challenge = pkce_pair()
    code = get_code(live, browser_session, authorize_params(relying_party[0], challenge))["code"]
    exchange(live, relying_party, code, verifier)

    def stored():
        item = db.session.scalar(select(AuthorizationCode).where(AuthorizationCode.code == code))
        return item is not None and item.redeemed_at is not None
    assert in_app_db(live, stored)


# --- point 9: malformed input at the authorization and token endpoints --------------------------

MALFORMED_AUTHORIZE = [
    {"client_id": "\x00pid"},
    {"client_id": "pid_é"},
    {"redirect_uri": REDIRECT_URI + "\x01"},
    {"redirect_uri": REDIRECT_URI + "é"},
    {"redirect_uri": REDIRECT_URI + '"'},
    {"response_type": "codé"},
    {"response_type": "code\x00"},
    {"response_type": 'co"de'},
    {"state": "é"},
    {"state": "\x01"},
    {"nonce": "\x00"},
    {"nonce": "é"},
    {"scope": "openid é"},
    {"scope": "openid\x00"},
    {"code_challenge": "\x00" * 43},
    {"prompt": "\x00"},
]


@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
@pytest.mark.parametrize("changes", MALFORMED_AUTHORIZE, ids=lambda c: ascii(c)[:40])
def test_control_or_non_ascii_authorize_parameters_get_an_error_page(live, relying_party, browser_session,
                                                                      signed_in, changes):
    params = authorize_params(relying_party[0], pkce_pair()[1], **changes)
    session = browser_session if signed_in else requests.Session()
    response = session.get(live.url + "/idp/authorize?" + urlencode(params), allow_redirects=False, timeout=10)
    assert response.status_code == 400, response.text[:300]
    assert "Location" not in response.headers
    assert "This sign-in link is not valid" in response.text


def test_a_consent_post_with_malformed_parameters_is_refused(live, relying_party, browser_session):
    params = authorize_params(relying_party[0], pkce_pair()[1], state="\x00")
    response = browser_session.post(live.url + "/idp/authorize?" + urlencode(params), allow_redirects=False,
                                    timeout=10, data={"decision": "allow"})
    assert response.status_code == 400 and "Location" not in response.headers


def basic(raw):
    return "Basic " + base64.b64encode(raw).decode()


@pytest.mark.parametrize("authorization", [
    basic("é:secret".encode("latin-1")),          # base64, but not of UTF-8
    basic(b"pid_x:\xff\xfe"),
    "Basic é",                                     # not base64 at all (and not ASCII)
    "Basic !!!not-base64!!!",
    "Basic " + base64.b64encode(b"pid_x:secret").decode()[:-2],  # truncated padding
    basic(b"pid%00x:secret"),                      # a NUL once percent-decoded (PostgreSQL rejects it)
    basic(b"pid\x00x:secret"),
    basic(b"pid_x"),                               # no secret
], ids=ascii)
def test_a_malformed_basic_header_gets_invalid_client(live, relying_party, authorization):
    response = requests.post(live.url + "/idp/token", timeout=10, headers={"Authorization": authorization}, data={
        "grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT_URI, "code_verifier": "v" * 43})
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("field, value", [
    ("code", "\x00abc"), ("code", "cödé"), ("redirect_uri", REDIRECT_URI + "\x00"),
    ("code_verifier", "\x00" * 43), ("grant_type", "authorization_code\x00"), ("client_id", "\x00"),
], ids=ascii)
def test_malformed_token_request_fields_get_invalid_request(live, relying_party, field, value):
    data = {"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT_URI, "code_verifier": "v" * 43}
    data[field] = value
    response = requests.post(live.url + "/idp/token", auth=relying_party, timeout=10, data=data)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"


def test_a_well_formed_flow_still_works_with_unusual_but_legal_characters(live, relying_party, browser_session):
    """VSCHAR allows spaces and punctuation in state; they must survive the round trip."""
    verifier, challenge = pkce_pair()
    params = authorize_params(relying_party[0], challenge, state="a b~!$'()*+,;=:@[]")
    answer = get_code(live, browser_session, params)
    assert answer["state"] == params["state"]
    assert exchange(live, relying_party, answer["code"], verifier).status_code == 200


@pytest.mark.parametrize("target", ["/idp/\r\nSet-Cookie: idp_session=planted", "/idp/\x00", "/idp/\x7f"], ids=ascii)
def test_a_next_with_control_characters_lands_on_the_account_page(live, target):
    from ..support import new_identity
    email, password = new_identity(live.app)
    session = requests.Session()
    page = session.get(live.url + "/idp/signin", timeout=10)
    response = session.post(live.url + "/idp/signin", params={"next": target}, allow_redirects=False, timeout=10,
                            data={"csrf_token": csrf_token(page.text), "email": email, "password": password})
    assert response.status_code == 302, response.status_code
    assert response.headers["Location"].endswith("/idp/")
    assert "planted" not in response.headers.get("Set-Cookie", "")


@pytest.mark.parametrize("name, refusal", [("Lerato\x00Dlamini", "NUL character"),
                                           ("Lerato\x1bDlamini", "letters, spaces and punctuation"),
                                           ("L" * 101, "at most 100 letters")], ids=ascii)
def test_sign_up_refuses_a_name_the_database_cannot_hold(live, name, refusal):
    session = requests.Session()
    page = session.get(live.url + "/idp/signup", timeout=10)
    response = session.post(live.url + "/idp/signup", timeout=10, allow_redirects=False, data={
        "csrf_token": csrf_token(page.text), "name": name, "email": "nul-name@example.co.za",
        "password": "a-long-password"})
    assert response.status_code == 200 and "signed-in" not in response.text
    assert refusal in response.text and "nul-name@example.co.za" in response.text  # what was typed is kept


def test_revoking_a_consent_for_a_malformed_client_id_is_a_no_op(live, browser_session):
    page = browser_session.get(live.url + "/idp/", timeout=10)
    response = browser_session.post(live.url + "/idp/consents/pid%00x/revoke", allow_redirects=False, timeout=10,
                                    data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 302 and response.headers["Location"].endswith("/idp/")

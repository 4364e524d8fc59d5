"""Rate limits trigger, with a friendly page for people and JSON for programs."""
import pytest

from ..support import FreshContextClient, csrf_token, make_app


@pytest.fixture
def strict_client(tmp_path, seeded_instance):
    import shutil
    shutil.copytree(seeded_instance, tmp_path / "instance")
    app = make_app(tmp_path / "instance", RATELIMIT_SIGNIN="3 per minute", RATELIMIT_SIGNUP="2 per minute",
                   RATELIMIT_TOKEN="5 per minute", RATELIMIT_TOKEN_ADDRESS="3 per minute")
    return app, FreshContextClient(app, app.test_client())


@pytest.mark.parametrize("path, data", [
    ("/idp/signin", {"email": "thandi@example.co.za", "password": "wrong-password"}),
    ("/bank/app/login", {"username": "thandi", "password": "wrong-password"}),
])
def test_sign_in_is_limited_with_a_friendly_page(strict_client, path, data):
    app, client = strict_client
    token = csrf_token(client.get(path).get_data(as_text=True))
    statuses = [client.post(path, data={"csrf_token": token, **data}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    page = client.post(path, data={"csrf_token": token, **data})
    assert page.status_code == 429
    assert "Too many attempts. Wait a minute, then try again." in page.get_data(as_text=True)
    assert "<html" in page.get_data(as_text=True) and int(page.headers["Retry-After"]) > 0
    assert client.get(path).status_code == 200  # only the attempts are limited, not the page


def test_sign_up_is_limited(strict_client):
    app, client = strict_client
    token = csrf_token(client.get("/idp/signup").get_data(as_text=True))
    statuses = [client.post("/idp/signup", data={"csrf_token": token, "name": "X", "email": "bad",
                                                 "password": "x"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


@pytest.mark.parametrize("path", ["/bank/oauth/token", "/idp/token"])
def test_token_endpoints_are_limited_with_json(strict_client, path):
    app, client = strict_client  # a guesser's client id and secret: each try fails client authentication
    grant = {"grant_type": "client_credentials"} if path.startswith("/bank") else {  # each server's own grant
        "grant_type": "authorization_code", "code": "x", "redirect_uri": "http://localhost/cb"}
    responses = [client.post(path, data=grant,
                             headers={"Authorization": "Basic bWNoX2d1ZXNzOndyb25nLXNlY3JldA=="})
                 for _ in range(4)]
    assert [r.status_code for r in responses[:3]] != [429] * 3
    last = responses[3]
    assert last.status_code == 429
    assert last.get_json() == {"error": "rate_limited", "message": "Too many attempts. Wait a minute, then try again."}


@pytest.fixture
def client_with_its_store_down(tmp_path, seeded_instance):
    """The limits' store is a Redis that does not answer (stopped, or unreachable from this host)."""
    import shutil
    shutil.copytree(seeded_instance, tmp_path / "instance")
    app = make_app(tmp_path / "instance", RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0", RATELIMIT_SIGNIN="3 per minute")
    return app, FreshContextClient(app, app.test_client())


def test_with_the_store_down_sign_in_still_answers_and_is_still_limited(client_with_its_store_down, caplog):
    """Fail open to counting in this process, with a logged warning: a sign-in page never answers 500
    because the limits' store is away, and a guesser still meets the limit."""
    app, client = client_with_its_store_down
    token = csrf_token(client.get("/idp/signin").get_data(as_text=True))
    data = {"csrf_token": token, "email": "thandi@example.co.za", "password": "wrong-password"}
    statuses = [client.post("/idp/signin", data=data).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert any("storage" in record.getMessage().lower() or "redis" in record.getMessage().lower()
               for record in caplog.records if record.levelname in ("WARNING", "ERROR"))


def test_token_requests_are_counted_per_client_and_only_failures_per_address(strict_client):
    """The shop's server asks for a token at every learner's sign-in, from one address: its successes
    are counted against its own client's allowance, never an address's, and another client keeps its own."""
    from app.bank import merchants
    from app.extensions import db
    app, client = strict_client
    with app.app_context():
        other, other_secret = merchants.create_merchant("Other Shop", "https://other.example/hook")
        other_id = other.client_id
        db.session.remove()
    shop = (app.config["BANK_CLIENT_ID"], app.config["BANK_CLIENT_SECRET"])

    def token(auth):
        import base64
        basic = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        return client.post("/bank/oauth/token", data={"grant_type": "client_credentials", "scope": "payments"},
                           headers={"Authorization": f"Basic {basic}"}).status_code
    assert [token(shop) for _ in range(5)] == [200] * 5  # more than the address's 3: successes do not count there
    assert token(shop) == 429  # the shop's client has used its 5
    assert token((other_id, other_secret)) == 200  # another client, same address: its own allowance
    # Failures from this address (a wrong secret, client after client) meet the address's limit.
    assert [token((f"mch_guess_{i}", "x" * 40)) for i in range(4)] == [401, 401, 401, 429]


def test_what_a_stranger_makes_a_token_request_do_never_locks_the_shop_out(strict_client):
    """The shop's client id is public, and a stranger can make the shop relay a bogus authorization code
    (its sign-in callback): neither may use up the shop's allowance or lock the shop's own address."""
    import base64
    app, client = strict_client
    shop = (app.config["OIDC_PAYLAB_CLIENT_ID"], app.config["OIDC_PAYLAB_CLIENT_SECRET"])

    def token(auth, code="bogus"):
        basic = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        return client.post("/idp/token", headers={"Authorization": f"Basic {basic}"}, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": "http://localhost/cb"}).status_code
    # Wrong secrets naming the shop: failures of this address, not uses of the shop's allowance.
    assert [token((shop[0], "x" * 40)) for _ in range(2)] == [401, 401]
    # The shop relaying bogus codes, more than the address's 3 failures: invalid_grant, never 429.
    assert [token(shop) for _ in range(6)] == [400] * 6
    # The address still has its third failure left, then meets its limit.
    assert [token((shop[0], "x" * 40)) for _ in range(2)] == [401, 429]

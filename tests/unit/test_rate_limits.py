"""Rate limits trigger, with a friendly page for people and JSON for programs."""
import pytest

from ..support import FreshContextClient, csrf_token, make_app


@pytest.fixture
def strict_client(tmp_path, seeded_instance):
    import shutil
    shutil.copytree(seeded_instance, tmp_path / "instance")
    app = make_app(tmp_path / "instance", RATELIMIT_SIGNIN="3 per minute", RATELIMIT_SIGNUP="2 per minute",
                   RATELIMIT_TOKEN="3 per minute")
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
    app, client = strict_client
    responses = [client.post(path, data={"grant_type": "client_credentials"}) for _ in range(4)]
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

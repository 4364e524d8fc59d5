"""SSRF with reflection (issue 8, point 3): nobody outside chooses where the bank sends, or reads what came back.

The attacker's target stands in for something on the bank's own network (an admin
page, a cloud metadata service): a server on this machine that answers every POST
with a secret. It is reached as `localhost`, which the tests' push-service allow-list
(`http://127.0.0.1` only, for the local push service) does not include.
"""
import secrets
import threading
import uuid

import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from app.bank.models import Merchant, PushAttempt, WebhookEvent
from app.bank.merchants import register_webhook_endpoint
from app.extensions import db

from ..support import BankCustomer, csrf_token, in_app_db, wait_for

TIMEOUT = 15


class InternalService:
    """A server that must stay private: it answers with a secret, or redirects to another place."""

    def __init__(self, status=500, location=None):
        self.secret = f"INTERNAL-SECRET-{secrets.token_hex(6)}"
        self.status, self.location, self.requests = status, location, []
        self.server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://localhost:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        self.requests.append((request.method, request.path))
        headers = {"Location": self.location} if self.location else {}
        return Response(f"admin console: {self.secret}", status=self.status, headers=headers)(environ, start_response)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def internal():
    service = InternalService()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def token(live):
    response = requests.post(live.url + "/bank/oauth/token", timeout=TIMEOUT,
                             data={"grant_type": "client_credentials", "scope": "payments"},
                             auth=(live.app.config["BANK_CLIENT_ID"], live.app.config["BANK_CLIENT_SECRET"]))
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def _create_payment(live, token, card, **changes):
    body = {"amount": 2500, "currency": "ZAR", "card_number": card, "merchant_reference": f"o-{uuid.uuid4().hex[:8]}"}
    body.update(changes)
    return requests.post(live.url + "/bank/api/v1/payment-requests", json=body, timeout=TIMEOUT,
                         headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex})


def _cancel(live, token, payment_id):
    return requests.post(f"{live.url}/bank/api/v1/payment-requests/{payment_id}/cancel", timeout=TIMEOUT,
                         headers={"Authorization": f"Bearer {token}"})


def _register_endpoint(live, url):
    def register():
        merchant = db.session.scalar(select(Merchant).where(Merchant.client_id == live.app.config["BANK_CLIENT_ID"]))
        register_webhook_endpoint(merchant, url)
        db.session.commit()
    in_app_db(live, register)


def _attempts_of(live, payment_id):
    def attempts():
        event = db.session.scalar(select(WebhookEvent).where(WebhookEvent.payment_request_id == payment_id))
        return [(a.status_code, a.error) for a in event.attempts] if event else []
    return in_app_db(live, attempts)


# --- push endpoints -------------------------------------------------------------------------------

@pytest.mark.parametrize("endpoint", [
    "{internal}/admin",                                      # an address on the bank's own network
    "http://169.254.169.254/latest/meta-data/iam/",          # the cloud's metadata service
    "https://fcm.googleapis.com.attacker.example/fcm/send/x",  # a look-alike host
    "https://fcm.googleapis.com@attacker.example/fcm/send/x",  # a push host as the user name
    "http://fcm.googleapis.com/fcm/send/x",                  # a real push host, but not over https
    "https://fcm.googleapis.com:8443/fcm/send/x",            # a real push host on another port
    "https://fcm.googleapis.com/fcm/send/x\n",               # a trailing newline
])
def test_a_customer_cannot_aim_the_bank_at_an_address_of_their_choosing(live, push_service, customer_factory,
                                                                         internal, endpoint):
    username, password, pin, _ = customer_factory()
    phone = BankCustomer(live.url, username, password, pin)
    keys = push_service.subscribe()["keys"]
    subscription = {"endpoint": endpoint.format(internal=internal.url), "keys": keys}
    response = phone.api("POST", "/bank/app/api/devices", json={"name": "Phone", "pin": pin,
                                                                "subscription": subscription})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_field" and "push service" in response.json()["message"]
    phone.api("POST", "/bank/app/api/devices/test")
    diagnostics = phone.api("GET", "/bank/app/api/diagnostics")
    assert diagnostics.status_code == 200 and internal.secret not in diagnostics.text
    assert internal.requests == []


def test_a_real_push_service_url_is_accepted(live, customer_factory, push_service):
    username, password, pin, _ = customer_factory()
    phone = BankCustomer(live.url, username, password, pin)
    subscription = {"endpoint": "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91bHk-x_y%2Bz",
                    "keys": push_service.subscribe()["keys"]}
    device = phone.register_device(subscription)
    assert device["endpoint_host"] == "fcm.googleapis.com"


def test_what_a_push_service_answers_is_never_shown_to_the_customer(live, push_service, customer_factory):
    username, password, pin, _ = customer_factory()
    phone = BankCustomer(live.url, username, password, pin)
    subscription = push_service.subscribe()
    secret = f"REMOTE-BODY-{secrets.token_hex(6)}"
    push_service.script(subscription, {"status": 500, "body": secret})
    device = phone.register_device(subscription)
    assert phone.api("POST", "/bank/app/api/devices/test").status_code == 202

    def first_attempt():
        attempt = db.session.scalar(select(PushAttempt).where(PushAttempt.device_id == device["id"])
                                    .order_by(PushAttempt.id))
        return (attempt.status_code, attempt.error) if attempt else None
    assert wait_for(lambda: in_app_db(live, first_attempt), message="the first attempt") == (500, "HTTP 500")
    for path in ("/bank/app/api/diagnostics", "/bank/app/api/devices", "/bank/app/diagnostics", "/bank/app/devices"):
        assert secret not in phone.api("GET", path).text, path


# --- webhook URLs ---------------------------------------------------------------------------------

def test_a_payment_request_cannot_name_an_unregistered_callback_url(live, token, customer_factory, internal):
    card = customer_factory()[3]
    response = _create_payment(live, token, card, callback_url=f"{internal.url}/admin")
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_field" and "callback_url" in body["message"]
    for junk in ("http://127.0.0.1:1/\x00", 7, ["x"], "é" * 600):
        refused = _create_payment(live, token, card, callback_url=junk)
        assert refused.status_code == 422 and "callback_url" in refused.json()["message"]
    assert internal.requests == []


def test_a_registered_endpoint_may_be_named_and_receives_the_webhook(live, token, customer_factory, internal):
    internal.status = 200  # here it stands for the merchant's own second receiver
    _register_endpoint(live, f"{internal.url}/second-receiver")
    card = customer_factory()[3]
    created = _create_payment(live, token, card, callback_url=f"{internal.url}/second-receiver")
    assert created.status_code == 201, created.text
    assert _cancel(live, token, created.json()["id"]).status_code == 200
    wait_for(lambda: ("POST", "/second-receiver") in internal.requests, message="the webhook at the named endpoint")
    default = _create_payment(live, token, card)  # no callback_url: the merchant's default endpoint
    assert default.status_code == 201


def test_a_webhook_answer_is_never_shown_in_the_merchant_portal(live, token, customer_factory, internal):
    _register_endpoint(live, f"{internal.url}/hook")
    created = _create_payment(live, token, customer_factory()[3], callback_url=f"{internal.url}/hook")
    assert created.status_code == 201, created.text
    _cancel(live, token, created.json()["id"])
    assert wait_for(lambda: _attempts_of(live, created.json()["id"]), message="a failed delivery")[0] == (500, "HTTP 500")

    portal = requests.Session()
    page = portal.get(live.url + "/bank/merchant/login", timeout=TIMEOUT)
    page = portal.post(live.url + "/bank/merchant/login", timeout=TIMEOUT, data={
        "csrf_token": csrf_token(page.text), "client_id": live.app.config["BANK_CLIENT_ID"],
        "client_secret": live.app.config["BANK_CLIENT_SECRET"]})
    assert 'data-testid="webhook-table"' in page.text and created.json()["id"] in page.text
    assert internal.secret not in page.text
    assert f"{internal.url}/hook" in page.text  # the registered endpoints are listed


def test_a_webhook_redirect_is_not_followed(live, token, customer_factory, internal):
    redirector = InternalService(status=307, location=f"{internal.url}/admin")
    try:
        _register_endpoint(live, f"{redirector.url}/hook")
        created = _create_payment(live, token, customer_factory()[3], callback_url=f"{redirector.url}/hook")
        assert created.status_code == 201, created.text
        _cancel(live, token, created.json()["id"])
        first = wait_for(lambda: _attempts_of(live, created.json()["id"]), message="a delivery attempt")[0]
        assert first == (307, "HTTP 307")
        assert internal.requests == []  # the signed event never went where the redirect pointed
    finally:
        redirector.stop()

"""Where the bank may send, and what it keeps of the answer (issue 8, point 3), without a network."""
import socket

import pytest
import requests
from sqlalchemy import select, text, update
from urllib3.exceptions import MaxRetryError, NewConnectionError

from app.bank import services
from app.bank.outbox import webhooks
from app.bank import cards
from app.bank.models import Customer, Merchant, WebhookEvent, utcnow
from app.bank.outbox.workers import WebhookWorker
from app.bank.outbound import (DEFAULT_PUSH_SERVICE_HOSTS, OutboundUrlRefused, check_push_endpoint,
                               check_webhook_url, describe_failure)
from app.extensions import db

TESTS = DEFAULT_PUSH_SERVICE_HOSTS + ",http://127.0.0.1"


@pytest.mark.parametrize("url", [
    "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91bHk-x_y",
    "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk",
    "https://wns2-par02p.notify.windows.com/w/?token=BQYAAAD%2b",
    "https://web.push.apple.com/QGx1c3Q",
    "https://api.push.apple.com/3/device/abc",
])
def test_real_push_services_are_allowed(url):
    assert check_push_endpoint(url) == url


def test_an_endpoint_has_one_canonical_spelling():
    """Another spelling of a subscription must not register as a second one (issue 8 review)."""
    assert check_push_endpoint("https://FCM.googleapis.com:443/fcm/send/x") == "https://fcm.googleapis.com/fcm/send/x"
    with pytest.raises(OutboundUrlRefused):
        check_push_endpoint("https://fcm.googleapis.com/fcm/send/x#again")


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/bank/api/v1/payment-requests",  # the bank itself
    "https://localhost/admin", "https://10.0.0.7/", "https://[::1]/", "http://169.254.169.254/latest/",
    "https://fcm.googleapis.com.evil.example/x",           # look-alike
    "https://evil.example/fcm.googleapis.com",
    "https://fcm.googleapis.com@evil.example/x",           # the push host as a user name
    "https://a:b@fcm.googleapis.com/x",                    # credentials
    "http://fcm.googleapis.com/x",                         # not https
    "https://fcm.googleapis.com:8443/x",                   # another port
    "https://fcm.googleapis.com:notaport/x",
    "https://notify.windows.com/x",                        # "*." is for subdomains only
    "https://push.apple.com/x",
    "https://fcm.googleapis.com/x\n", "https://fcm.googleapis.com/x y", "https://fcm.googleapis.com\\@evil/",
    "https://fcm.googleapis.com/\x00", "https://fcm.googleapis.com/é",
    "", None, 42, ["https://fcm.googleapis.com/x"], "https://fcm.googleapis.com/" + "a" * 1000,
])
def test_anything_else_is_refused(url):
    with pytest.raises(OutboundUrlRefused):
        check_push_endpoint(url)


def test_an_entry_with_a_scheme_allows_that_scheme_on_any_port_of_that_host_only():
    assert check_push_endpoint("http://127.0.0.1:41234/push/abc", TESTS)
    for url in ("https://127.0.0.1:41234/push/abc", "http://127.0.0.2:41234/push/abc", "http://localhost:41234/"):
        with pytest.raises(OutboundUrlRefused):
            check_push_endpoint(url, TESTS)


@pytest.mark.parametrize("url", ["ftp://shop.example/hook", "/relative", "https://u:p@shop.example/hook",
                                 "https://shop.example/hook#frag", "https://shop.example/h\x00", "https://",
                                 "https://shop.example/" + "a" * 500, 7, None])
def test_webhook_urls_are_checked_for_form(url):
    with pytest.raises(OutboundUrlRefused):
        check_webhook_url(url)


def _refused():
    """What requests raises for a closed port: the socket error, wrapped by urllib3, wrapped by requests."""
    error = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    error.__cause__ = ConnectionRefusedError(111, "Connection refused")
    return requests.ConnectionError(MaxRetryError(None, "/", error))


@pytest.mark.parametrize("make, reason", [
    (lambda: requests.ConnectTimeout("connect timeout to 10.0.0.1"), "connect timed out"),
    (lambda: requests.ReadTimeout("read timed out, remote said: SECRET"), "timed out"),
    (lambda: requests.exceptions.SSLError("certificate verify failed for SECRET"), "TLS error"),
    (lambda: requests.TooManyRedirects("Exceeded 0 redirects to http://SECRET"), "redirect refused"),
    (_refused, "connection refused"),
    (lambda: requests.ConnectionError(MaxRetryError(None, "/", socket.gaierror(-2, "Name or service not known"))),
     "name not resolved"),
    (lambda: requests.ConnectionError("SECRET"), "connection failed"),
])
def test_failures_are_described_in_a_few_fixed_words(make, reason):
    assert describe_failure(make()) == reason


class AnsweringHttp:
    def __init__(self, status, body):
        self.status, self.body, self.calls = status, body, []

    def post(self, url, **kwargs):
        self.calls.append(kwargs)
        response = requests.Response()
        response.status_code, response._content = self.status, self.body.encode()
        return response


def test_a_webhook_attempt_keeps_the_status_never_the_body(app):
    merchant = db.session.scalar(select(Merchant).where(Merchant.name == "Veldt Market"))
    customer = db.session.scalar(select(Customer).where(Customer.username == "thandi"))
    response, _ = services.request_payment(merchant, "outbound-key", {
        "amount": 100, "currency": "ZAR", "card_number": cards.customer_card(customer).number,
        "merchant_reference": "o-1"}, 120)
    services.cancel_payment_request(merchant, response["id"])
    [event] = db.session.scalars(select(WebhookEvent).where(WebhookEvent.payment_request_id == response["id"])).all()
    http = AnsweringHttp(502, "<h1>internal: db_password=hunter2</h1>")
    assert webhooks.deliver_event(event, http, timeout=1, retry_base=1, max_attempts=3) is False
    assert [(a.status_code, a.error) for a in event.attempts] == [(502, "HTTP 502")]
    assert http.calls[0]["allow_redirects"] is False


def test_migration_0008_carries_callback_urls_over_and_forgets_stored_bodies(tmp_path):
    """From 0007 to 0008 on a database with data, as an existing install upgrades."""
    from flask_migrate import upgrade

    from app import create_app
    from config import TestConfig
    app = create_app(TestConfig, instance_path=str(tmp_path / "instance"))
    with app.app_context():
        upgrade(revision="0007")
        bank = db.engines["bank"]
        with bank.begin() as sql:
            sql.execute(text("INSERT INTO accounts (id, number, kind, name, created_at) "
                             "VALUES (1, '1', 'merchant', 'M', '2026-01-01')"))
            sql.execute(text("INSERT INTO merchants (id, name, client_id, client_secret_hash, webhook_secret, "
                             "callback_url, scope, account_id, created_at) VALUES (1, 'M', 'mch_1', 'x', 'whsec_1', "
                             "'https://m.example/hook', 'payments', 1, '2026-01-01')"))
            sql.execute(text("INSERT INTO customers (id, username, full_name, password_hash, pin_hash, created_at) "
                             "VALUES (1, 'c', 'C', 'x', 'x', '2026-01-01')"))
            sql.execute(text("INSERT INTO devices (id, customer_id, endpoint, p256dh, auth, name, created_at) "
                             "VALUES (1, 1, 'https://fcm.googleapis.com/x', 'k', 'a', 'P', '2026-01-01')"))
            sql.execute(text("INSERT INTO push_messages (id, device_id, kind, payload, topic, expires_at, state, "
                             "next_attempt_at, attempt_count, created_at) VALUES (1, 1, 'test', '{}', 't', "
                             "'2099-01-01', 'sending', '2026-01-01', 0, '2026-01-01')"))
            sql.execute(text("INSERT INTO push_attempts (device_id, message_id, attempted_at, status_code, error, "
                             "duration_ms) VALUES (1, 1, '2026-01-01', 500, 'HTTP 500: secret body', 1), "
                             "(1, 1, '2026-01-01', NULL, 'ReadTimeout: timed out', 1)"))
        upgrade()
        with bank.connect() as sql:
            assert sql.execute(text("SELECT merchant_id, url FROM merchant_webhook_endpoints")).all() == [
                (1, "https://m.example/hook")]
            assert sql.execute(text("SELECT error FROM push_attempts ORDER BY id")).scalars().all() == [
                "HTTP 500", "ReadTimeout: timed out"]
            state, claimed_until = sql.execute(text("SELECT state, claimed_until FROM push_messages")).one()
            assert state == "sending" and claimed_until is not None  # an expired lease: the worker takes it over
        for engine in db.engines.values():
            engine.dispose()


def test_a_webhook_that_fails_on_our_side_backs_off_and_is_abandoned_never_a_loop(app):
    """Review: an exception before any answer (a secret that will not decrypt) used to leave the event due,
    uncounted, re-leased every minute and blocking its merchant's endpoint forever."""
    merchant = db.session.scalar(select(Merchant).where(Merchant.name == "Veldt Market"))
    customer = db.session.scalar(select(Customer).where(Customer.username == "thandi"))
    response, _ = services.request_payment(merchant, "ours-key", {
        "amount": 100, "currency": "ZAR", "card_number": cards.customer_card(customer).number,
        "merchant_reference": "o-ours"}, 120)
    services.cancel_payment_request(merchant, response["id"])
    event_id = db.session.scalar(select(WebhookEvent.id).where(WebhookEvent.payment_request_id == response["id"]))
    config = {"WEBHOOK_RETRY_BASE_SECONDS": 1, "WEBHOOK_MAX_ATTEMPTS": 2}
    for _ in range(2):
        webhooks.record_failed_attempt(event_id, config, claimed_by=None)
    db.session.expire_all()
    event = db.session.get(WebhookEvent, event_id)
    assert event.attempt_count == 2 and event.abandoned_at is not None
    assert [a.error for a in event.attempts] == ["not sent: the bank could not prepare it"] * 2


def test_a_worker_never_starts_a_second_send_of_an_event_it_is_still_sending(app):
    merchant = db.session.scalar(select(Merchant).where(Merchant.name == "Veldt Market"))
    customer = db.session.scalar(select(Customer).where(Customer.username == "thandi"))
    response, _ = services.request_payment(merchant, "slow-key", {
        "amount": 100, "currency": "ZAR", "card_number": cards.customer_card(customer).number,
        "merchant_reference": "o-slow"}, 120)
    services.cancel_payment_request(merchant, response["id"])
    event_id = db.session.scalar(select(WebhookEvent.id).where(WebhookEvent.payment_request_id == response["id"]))
    assert webhooks.claim_due_webhooks("w1", 4, 60, sending={event_id}) == []
    assert [c.event_id for c in webhooks.claim_due_webhooks("w1", 4, 60)] == [event_id]


def _cancelled_events(merchant, customer, count, prefix):
    ids = []
    for n in range(count):
        response, _ = services.request_payment(merchant, f"{prefix}-{n}", {
            "amount": 100, "currency": "ZAR", "card_number": cards.customer_card(customer).number,
            "merchant_reference": f"{prefix}-{n}"}, 120)
        services.cancel_payment_request(merchant, response["id"])
        ids.append(db.session.scalar(select(WebhookEvent.id).where(WebhookEvent.payment_request_id == response["id"])))
    return ids


def test_several_events_go_to_one_endpoint_at_once_but_never_more_than_its_share(app):
    """A classroom's payments all go to one shop: one POST at a time made that endpoint the queue.
    Now a few go at once, by any worker, and never more than `per_endpoint`."""
    merchant = db.session.scalar(select(Merchant).where(Merchant.name == "Veldt Market"))
    customer = db.session.scalar(select(Customer).where(Customer.username == "thandi"))
    events = _cancelled_events(merchant, customer, 5, "many")
    first = webhooks.claim_due_webhooks("w1", 8, 60, per_endpoint=3)
    assert [c.event_id for c in first] == events[:3]
    assert webhooks.claim_due_webhooks("w2", 8, 60, per_endpoint=3) == []  # another worker: the share is taken
    assert webhooks.in_flight_per_endpoint(utcnow()) == {(merchant.id, first[0].url): 3}
    db.session.execute(update(WebhookEvent).where(WebhookEvent.id == events[0]).values(claimed_until=None,
                                                                                     delivered_at=utcnow()))
    db.session.commit()  # one delivery finished: one more may go
    assert [c.event_id for c in webhooks.claim_due_webhooks("w2", 8, 60, per_endpoint=3)] == [events[3]]


def test_a_worker_keeps_threads_for_other_merchants(app):
    worker = WebhookWorker(app)
    assert worker.per_endpoint == min(app.config["WEBHOOK_IN_FLIGHT_PER_ENDPOINT"], worker.threads - 1)
    app.config["WEBHOOK_WORKER_THREADS"] = 1
    assert WebhookWorker(app).per_endpoint == 1

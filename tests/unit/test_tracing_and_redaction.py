"""Redaction (no secret reaches a stored trace) and W3C traceparent parsing and propagation."""
import json

import pytest

from app.common import tracing
from app.common.http import HttpSettings, traced_request
from app.walkthrough.redaction import HIDDEN, redact_body, redact_headers


def test_tokens_secrets_pins_and_passwords_are_hidden():
    body = {"access_token": "sZAikfx4dAtvTZMRBtdloNzYMpmw4mMHqBAo5HSKl0", "token_type": "Bearer",
            "id_token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "client_secret": "M15mw4U7SSbw0imJ2Rdu",
            "nested": {"pin": "1234", "password": "paylab-demo"}, "list": [{"code": "yBWWS53foD0c"}]}
    text = json.dumps(redact_body(body))
    for secret in ("sZAikfx4dA", "eyJhbGci", "M15mw4U7", "1234", "paylab-demo", "yBWWS53foD0c"):
        assert secret not in text
    assert redact_body(body)["token_type"] == "Bearer" and redact_body(body)["nested"]["pin"] == HIDDEN


def test_form_encoded_token_requests_are_redacted():
    form = "grant_type=authorization_code&code=abc123&code_verifier=xyz789&client_secret=s3cret&redirect_uri=x"
    redacted = redact_body(form)
    assert redacted["grant_type"] == "authorization_code" and redacted["redirect_uri"] == "x"
    assert {redacted["code"], redacted["code_verifier"], redacted["client_secret"]} == {HIDDEN}


def test_card_numbers_are_masked_to_the_last_four_everywhere():
    body = {"card_number": "4000 1299 6785 5585", "description": "paid with 4000129967855585 today"}
    redacted = redact_body(body)
    assert redacted["card_number"] == "•••• 5585"
    assert redacted["description"] == "paid with •••• 5585 today"


def test_headers_keep_the_scheme_but_not_the_credential():
    headers = redact_headers({"Authorization": "Bearer sZAikfx4dAtvTZMRBtdlo", "Cookie": "shop_session=abc",
                              "Bank-Signature": "t=1700000000,v1=" + "ab12cd34" * 8, "Idempotency-Key": "k1"})
    assert headers["Authorization"] == f"Bearer {HIDDEN}" and headers["Cookie"] == HIDDEN
    assert headers["Bank-Signature"] == "t=1700000000,v1=ab12cd34…" and headers["Idempotency-Key"] == "k1"
    assert redact_headers({"Authorization": "vapid t=eyJ.eyJ.sig,k=BOer"})["Authorization"] == f"vapid {HIDDEN}"


@pytest.mark.parametrize("header, expected", [
    ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "4bf92f3577b34da6a3ce929d0e0e4736"),
    ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-00", "4bf92f3577b34da6a3ce929d0e0e4736"),
    ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None),
    ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", None),
    ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None),
    ("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", None),
    ("garbage", None), ("", None), (None, None),
])
def test_traceparent_parsing(header, expected):
    assert tracing.parse_traceparent(header) == expected


class _Answer:
    status_code, text, headers = 200, "{}", {}


def test_outgoing_calls_carry_the_current_trace_and_only_then():
    sent = []

    def send(method, url, **kwargs):
        sent.append(kwargs.get("headers") or {})
        return _Answer()
    trace_id = tracing.new_trace_id()
    ours = HttpSettings(own_origins=["http://bank.example"])
    with tracing.trace(trace_id, owner="shop-user:1"):
        assert tracing.current_trace() == (trace_id, "shop-user:1")
        traced_request(send, ours, "GET", "http://bank.example/x", headers={"Accept": "application/json"})
    traced_request(send, ours, "GET", "http://bank.example/x")
    assert tracing.parse_traceparent(sent[0]["traceparent"]) == trace_id and sent[0]["Accept"] == "application/json"
    assert "traceparent" not in sent[1]


def test_a_third_party_never_gets_the_trace(app):
    """Push services and outside providers are not ours: the journey's id stays inside the instance."""
    sent = []

    def send(method, url, **kwargs):
        sent.append((url, kwargs.get("headers") or {}))
        return _Answer()
    settings = HttpSettings.from_config(app.config, sender="bank", receiver="push")
    with tracing.trace(tracing.new_trace_id()):
        traced_request(send, settings, "POST", "https://fcm.googleapis.com/fcm/send/abc")
        traced_request(send, settings, "POST", "https://accounts.example/token")
        traced_request(send, settings, "POST", app.config["PUBLIC_URL"] + "/shop/webhooks/bank")
        traced_request(send, settings, "POST", app.config["INTERNAL_URL"] + "/bank/oauth/token")
    assert ["traceparent" in headers for _, headers in sent] == [False, False, True, True]
    assert tracing.current_trace() == (None, None)  # the context ends with the block


def test_each_hop_gets_a_new_span_in_the_same_trace():
    trace_id = tracing.new_trace_id()
    first, second = tracing.traceparent_header(trace_id), tracing.traceparent_header(trace_id)
    assert first != second and tracing.parse_traceparent(first) == tracing.parse_traceparent(second) == trace_id


def test_observers_see_their_apps_messages_only_and_cannot_break_them(app):
    from flask import Flask
    other_app = Flask("another")
    seen, elsewhere = [], []

    def observer(sender, kind, details):
        seen.append((kind, details["trace_id"]))
        raise RuntimeError("a broken observer")
    def other_observer(sender, **message):
        elsewhere.append(message)
    tracing.message_crossed.connect(observer, sender=app)
    tracing.message_crossed.connect(other_observer, sender=other_app)
    try:
        with app.app_context(), tracing.trace("ab" * 16):
            tracing.record_message("socket", event="order_status")
    finally:
        tracing.message_crossed.disconnect(observer, sender=app)
        tracing.message_crossed.disconnect(other_observer, sender=other_app)
    assert seen == [("socket", "ab" * 16)]
    assert elsewhere == []  # another app's observer hears nothing of this one


# --- the walkthrough's steps are declared on the views that serve them --------------------------------

def test_a_view_declares_its_step_and_the_walkthrough_draws_it_from_there(app):
    """A new view joins the story with one decorator where it is defined; the recorder knows no URLs."""
    from app.walkthrough.recorder import classify

    @app.post("/shop/demo-step/<int:n>")
    @tracing.walkthrough_step("demo", factors=["knowledge:demo"], caller="phone")
    def demo_step(n):
        return ""

    @app.post("/shop/not-in-the-story")
    def not_in_the_story():
        return ""

    browser_request = {"method": "POST", "path": "/shop/demo-step/7", "endpoint": "demo_step", "server": "shop",
                       "status": 200}
    assert classify(app, "http-in", browser_request) == (
        "phone", "shop", "POST /shop/demo-step/7", 200, "demo", ["knowledge:demo"])
    assert classify(app, "http-in", dict(browser_request, endpoint="not_in_the_story")) is None

    # A server's call through the HTTP client takes the step of the view that serves it in this app.
    call = {"sender": "bank", "receiver": "shop", "method": "POST", "url": "http://127.0.0.1:1/shop/demo-step/7",
            "status": 201}
    assert classify(app, "http", call)[4:] == ("demo", ["knowledge:demo"])
    assert classify(app, "http", dict(call, url="http://127.0.0.1:1/shop/nowhere"))[4:] == ("http", [])
    # The real views say which factors they check.
    assert classify(app, "http", {"sender": "shop", "receiver": "bank", "method": "POST", "status": 201,
                                  "url": "http://127.0.0.1:1/bank/api/v1/payment-requests"})[4] == "payment_request"
    approve = app.url_map.bind("localhost").match("/bank/app/approvals/pr_1/approve", method="POST")[0]
    assert tracing.declared_step(app, approve) == tracing.Step("approval", ("knowledge:pin", "possession:device"), "phone")


def test_a_call_that_leaves_paylab_is_drawn_as_its_client_declares(app):
    """A push service has no view here: the push sender's settings name the lane and the step."""
    from app.bank.outbox.push import PUSH_SEND_STEP
    from app.walkthrough.recorder import classify
    push = {"sender": "bank", "receiver": "push", "step": PUSH_SEND_STEP, "method": "POST", "status": 201,
            "url": "https://push.example/send/abc"}
    assert classify(app, "http", push) == ("bank", "push", "Web Push (encrypted)", 201, "push_send",
                                           ["possession:push_subscription"])
    assert classify(app, "http", dict(push, receiver="somewhere-else", step=None)) is None  # no lane for it

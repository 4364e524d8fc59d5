"""The push sender against a fake HTTP layer, and the VAPID subject rules."""
import base64
import json

import pytest
from py_vapid import Vapid
from requests.structures import CaseInsensitiveDict

from app.bank.outbox.push import PayloadTooLarge, PushSender, _checked, topic_for
from app.bank.outbox.vapid import InvalidVapidSubject, application_server_key, validate_vapid_subject
from app.common.http import HttpSettings

from ..pushservice import LocalPushService


class FakeResponse:
    def __init__(self, status, headers=None, text=""):
        self.status_code, self.headers, self.text, self.reason = status, headers or {}, text, "x"


class FakeSession:
    def __init__(self, *responses):
        self.calls, self.responses = [], list(responses)

    def post(self, url, timeout=None, data=None, headers=None):
        self.calls.append({"url": url, "timeout": timeout, "headers": CaseInsensitiveDict(headers), "data": data})
        return self.responses.pop(0) if self.responses else FakeResponse(201)


def _claims(call):
    token = call["headers"]["Authorization"].split("t=")[1].split(",")[0]
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.fixture
def sender():
    vapid = Vapid()
    vapid.generate_keys()
    sender = PushSender(vapid, "mailto:ops@baobab.bank", HttpSettings(), timeout=4.0)
    sender.session = FakeSession()
    return sender


def test_each_call_gets_fresh_claims_with_its_own_audience(sender):
    service = LocalPushService()  # only for realistic subscriptions; it is not started
    first, second = service.subscribe(), service.subscribe()
    second["endpoint"] = second["endpoint"].replace("127.0.0.1", "push.other.example")
    sender.send(first, '{"a":1}', ttl=60, topic="pay-1")
    sender.send(second, '{"a":2}', ttl=30, topic="pay-2")
    a, b = sender.session.calls
    assert _claims(a)["aud"] == service.origin
    assert _claims(b)["aud"].startswith("http://push.other.example")  # a reused dict would keep the first aud
    # A short connect timeout (HTTP_CONNECT_TIMEOUT), the read timeout as configured.
    assert a["timeout"] == (3.0, 4.0) and a["headers"]["ttl"] == "60" and a["headers"]["Urgency"] == "high"
    assert a["headers"]["Topic"] == "pay-1" and a["headers"]["content-encoding"] == "aes128gcm"


@pytest.mark.parametrize("status, retry_after, expected", [
    (201, None, (201, None, None)), (429, "7", (429, 7.0, "HTTP 429")), (410, None, (410, None, "HTTP 410")),
    (503, "soon", (503, None, "HTTP 503"))])
def test_results_are_reported_not_raised(sender, status, retry_after, expected):
    sender.session.responses.append(FakeResponse(status, {"Retry-After": retry_after} if retry_after else {},
                                                 text="<html>internal admin page: secret=hunter2</html>"))
    # The answer's body is never part of the result (it would be shown in the customer's diagnostics).
    assert sender.send(LocalPushService().subscribe(), "{}", ttl=10, topic="t") == expected


def test_a_short_connect_timeout_can_be_set_apart():
    vapid = Vapid()
    vapid.generate_keys()
    sender = PushSender(vapid, "mailto:ops@baobab.bank", HttpSettings(connect_timeout=3.0), timeout=10.0,
                        connect_timeout=1.5)
    assert sender.timeout == (1.5, 10.0)
    assert sender.session.max_redirects == 0  # a push service never sends the bank elsewhere


def test_payloads_over_3kb_are_refused_before_sending():
    with pytest.raises(PayloadTooLarge):
        _checked({"body": "x" * 3100})


def test_topic_is_short_and_url_safe():
    assert topic_for("pr_AbC-123_xyz") == "pay-AbC-123_xyz"
    assert len(topic_for("pr_" + "a" * 60)) == 32


@pytest.mark.parametrize("subject", ["mailto:ops@baobab.bank", "https://paylab.co.za"])
def test_good_vapid_subjects(subject):
    assert validate_vapid_subject(subject) == (subject, [])


@pytest.mark.parametrize("subject", ["mailto:me@example.com", "https://localhost:8000", "mailto:x@shop.test"])
def test_placeholder_hosts_warn(subject):
    value, warnings = validate_vapid_subject(subject)
    assert value == subject and "Apple" in warnings[0]


@pytest.mark.parametrize("subject", ["", "ops@baobab.bank", "http://paylab.co.za", "mailto:", "https://"])
def test_bad_vapid_subjects_are_refused(subject):
    with pytest.raises(InvalidVapidSubject):
        validate_vapid_subject(subject)


def test_application_server_key_is_an_uncompressed_point():
    vapid = Vapid()
    vapid.generate_keys()
    raw = base64.urlsafe_b64decode(application_server_key(vapid) + "==")
    assert len(raw) == 65 and raw[0] == 4

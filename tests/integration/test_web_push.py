"""The bank sends real Web Push: encrypted, VAPID-signed, off the request path, with honest delivery results."""
import base64
from datetime import datetime, timezone

import requests
from sqlalchemy import select

from app.bank.models import Device, PushAttempt
from app.extensions import db
from app.shop.models import Order

from ..support import BankCustomer, Shopper, in_app_db, wait_for


def _phone_with_device(live, push_service, customer_factory, **customer):
    username, password, pin, card = customer_factory(**customer)
    phone = BankCustomer(live.url, username, password, pin)
    subscription = push_service.subscribe()
    device = phone.register_device(subscription)
    return phone, subscription, device, pin, card


def test_a_payment_request_pushes_an_encrypted_message_with_the_right_headers(live, push_service, customer_factory):
    phone, subscription, device, pin, card = _phone_with_device(live, push_service, customer_factory)
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("headlamp")
    order_id, _ = shopper.checkout(card)
    [approval] = phone.pending()

    [message] = wait_for(lambda: push_service.messages_for(subscription), message="the push")
    payload = message["payload"]
    assert payload == {
        "type": "payment_request", "id": approval["id"], "title": f"Approve {approval['amount_text']} at Veldt Market?",
        "body": f"Code {approval['binding_code']} · Veldt Market · {approval['amount_text']}",
        "amount": approval["amount"], "currency": "ZAR", "merchant": "Veldt Market",
        "binding_code": approval["binding_code"], "expires_at": approval["expires_at"],
        "url": f"{live.url}/bank/app/approvals/{approval['id']}",
        "journey": in_app_db(live, lambda: db.session.get(Order, order_id).journey_id)}
    assert len(payload["journey"]) == 32  # the walkthrough's journey travels in the push too
    assert message["size"] <= 3072
    expires = datetime.fromisoformat(approval["expires_at"].replace("Z", "+00:00"))
    seconds_left = (expires - datetime.fromtimestamp(message["at"], timezone.utc)).total_seconds()
    assert 0 < message["ttl"] <= 120 and abs(message["ttl"] - seconds_left) <= 2
    assert message["urgency"] == "high"
    assert message["topic"] == approval["id"].replace("pr_", "pay-") and len(message["topic"]) <= 32
    assert message["claims"]["aud"] == push_service.origin and message["claims"]["sub"].startswith("mailto:")

    shown = wait_for(lambda: in_app_db(live, lambda: db.session.get(Device, device["id"]).last_success_at),
                     message="the device records the success")
    assert shown is not None


def test_410_prunes_the_device(live, push_service, customer_factory):
    phone, subscription, device, pin, card = _phone_with_device(live, push_service, customer_factory)
    push_service.script(subscription, 410)
    assert phone.api("POST", "/bank/app/api/devices/test").status_code == 202
    wait_for(lambda: in_app_db(live, lambda: db.session.get(Device, device["id"]) is None), message="device pruned")
    assert phone.api("GET", "/bank/app/api/devices").json()["devices"] == []


def test_404_prunes_the_device_too(live, push_service, customer_factory):
    phone, subscription, device, pin, card = _phone_with_device(live, push_service, customer_factory)
    push_service.script(subscription, 404)
    phone.api("POST", "/bank/app/api/devices/test")
    wait_for(lambda: in_app_db(live, lambda: db.session.get(Device, device["id"]) is None), message="device pruned")


def test_429_is_retried_after_retry_after(live, push_service, customer_factory):
    phone, subscription, device, pin, card = _phone_with_device(live, push_service, customer_factory)
    push_service.script(subscription, (429, 1), (503, 0))
    phone.api("POST", "/bank/app/api/devices/test")
    [message] = wait_for(lambda: push_service.messages_for(subscription), timeout=15, message="delivered at last")
    assert message["payload"]["type"] == "test"

    def attempts():
        return [a.status_code for a in db.session.scalars(select(PushAttempt).where(
            PushAttempt.device_id == device["id"]).order_by(PushAttempt.id))]
    assert wait_for(lambda: in_app_db(live, attempts) == [429, 503, 201] and True, message="three attempts recorded")
    listed = phone.api("GET", "/bank/app/api/devices").json()["devices"][0]
    assert listed["last_success_at"] and listed["last_status"] == "201 ok"


def test_a_hanging_push_service_does_not_delay_pay_now(live, push_service, customer_factory):
    phone, subscription, device, pin, card = _phone_with_device(live, push_service, customer_factory)
    push_service.hang_started.clear()
    push_service.release_hang.clear()
    push_service.script(subscription, "hang")
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("sunglasses")
    try:
        order_id, response = shopper.checkout(card)  # returns while the push service still holds the push
        assert response.status_code == 200 and shopper.order_status(order_id)["status"] == "payment_pending"
        assert not push_service.release_hang.is_set()
        # The push did reach the hanging service: Pay now did not wait for it to answer.
        assert push_service.hang_started.wait(timeout=10)
        assert not push_service.messages_for(subscription)
    finally:
        push_service.release_hang.set()
    wait_for(lambda: push_service.messages_for(subscription), message="the push completes after the hang")


def test_devices_belong_to_their_customer(live, push_service, customer_factory):
    phone, subscription, device, pin, card = _phone_with_device(live, push_service, customer_factory)
    other = BankCustomer(live.url, *customer_factory()[:2])
    assert other.api("DELETE", f"/bank/app/api/devices/{device['id']}").status_code == 404
    assert [d["id"] for d in phone.api("GET", "/bank/app/api/devices").json()["devices"]] == [device["id"]]
    bad = phone.api("POST", "/bank/app/api/devices", json={"subscription": {"endpoint": "nope"}})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_field"
    no_csrf = phone.http.post(live.url + "/bank/app/api/devices", json={"subscription": subscription}, timeout=10)
    assert no_csrf.status_code == 400
    assert phone.api("DELETE", f"/bank/app/api/devices/{device['id']}").status_code == 204


def test_test_notification_without_a_device_explains(live, customer_factory):
    phone = BankCustomer(live.url, *customer_factory()[:2])
    response = phone.api("POST", "/bank/app/api/devices/test")
    assert response.status_code == 409 and "Enable notifications" in response.json()["message"]


def test_the_vapid_key_is_served_for_subscribe(live):
    key = requests.get(live.url + "/bank/app/api/push/key", timeout=10).json()["public_key"]
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(raw) == 65 and raw[0] == 4  # an uncompressed P-256 point, as applicationServerKey wants


def test_a_rotated_subscription_moves_the_device(live, push_service, customer_factory):
    """What the service worker sends on pushsubscriptionchange: its device cookie is the credential."""
    phone, old, device, pin, card = _phone_with_device(live, push_service, customer_factory)
    new = push_service.subscribe()
    stranger = requests.post(live.url + "/bank/app/api/devices/resubscribe", timeout=10,
                             json={"old_endpoint": old["endpoint"], "subscription": new})
    assert stranger.status_code == 403  # knowing the endpoint is not enough
    moved = phone.http.post(live.url + "/bank/app/api/devices/resubscribe", timeout=10,
                            json={"old_endpoint": old["endpoint"], "subscription": new})
    assert moved.status_code == 200 and moved.json()["id"] == device["id"]
    phone.api("POST", "/bank/app/api/devices/test")
    wait_for(lambda: push_service.messages_for(new), message="the push goes to the new subscription")
    assert not push_service.messages_for(old)


def test_the_app_keeps_its_subscription_in_step_each_time_it_opens(live, push_service, customer_factory):
    """iOS drops subscriptions silently: the app sends what the browser holds, the bank takes a change."""
    phone, old, device, pin, card = _phone_with_device(live, push_service, customer_factory)
    this = phone.api("GET", "/bank/app/api/devices/this").json()
    assert this == {"registered": True, "push": True, "endpoint": old["endpoint"], "device": this["device"]}
    assert this["device"]["id"] == device["id"]

    same = phone.api("PUT", "/bank/app/api/devices/this/subscription", json={"subscription": old})
    assert same.status_code == 200 and same.json()["changed"] is False

    new = push_service.subscribe()
    moved = phone.api("PUT", "/bank/app/api/devices/this/subscription", json={"subscription": new})
    assert moved.status_code == 200 and moved.json()["changed"] is True and moved.json()["device"]["id"] == device["id"]
    assert phone.api("GET", "/bank/app/api/devices/this").json()["endpoint"] == new["endpoint"]
    phone.api("POST", "/bank/app/api/devices/test")
    wait_for(lambda: push_service.messages_for(new), message="the push goes to the kept subscription")
    assert not push_service.messages_for(old)


def test_only_a_registered_device_can_keep_a_subscription(live, push_service, customer_factory):
    victim, subscription, device, pin, card = _phone_with_device(live, push_service, customer_factory)
    thief = BankCustomer(live.url, *customer_factory()[:2])  # signed in, but no device of the victim's
    assert thief.api("GET", "/bank/app/api/devices/this").json() == {"registered": False, "push": False,
                                                                       "endpoint": None}
    mine = push_service.subscribe()
    refused = thief.api("PUT", "/bank/app/api/devices/this/subscription", json={"subscription": mine})
    assert refused.status_code == 403 and refused.json()["error"] == "not_a_registered_device"
    # Knowing the victim's endpoint and having a session of one's own moves nothing.
    taken = thief.api("PUT", "/bank/app/api/devices/this/subscription", json={"subscription": subscription})
    assert taken.status_code == 403
    # The victim's own device cannot take another device's subscription either, nor send rubbish.
    other, other_subscription, *_ = _phone_with_device(live, push_service, customer_factory)
    clash = victim.api("PUT", "/bank/app/api/devices/this/subscription", json={"subscription": other_subscription})
    assert clash.status_code == 422
    for body in ({"subscription": {"endpoint": "https://push.attacker.example/x", "keys": subscription["keys"]}},
                 {"subscription": "nope"}, {}, []):
        bad = victim.api("PUT", "/bank/app/api/devices/this/subscription", json=body)
        assert bad.status_code in (400, 422), (body, bad.status_code)
    no_csrf = victim.http.put(live.url + "/bank/app/api/devices/this/subscription", json={"subscription": subscription},
                              timeout=10)
    assert no_csrf.status_code == 400
    anonymous = requests.get(live.url + "/bank/app/api/devices/this", timeout=10)
    assert anonymous.status_code == 401
    assert victim.api("GET", "/bank/app/api/devices/this").json()["endpoint"] == subscription["endpoint"]

"""Possession: only a registered device approves; registering one needs the PIN."""
from ..support import BankCustomer, Shopper, wait_for


def test_an_unregistered_browser_cannot_approve_and_is_told_why(live, customer_factory):
    username, password, pin, card = customer_factory()
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("headlamp")
    order_id, _ = shopper.checkout(card)
    laptop_bank = BankCustomer(live.url, username, password)
    [approval] = laptop_bank.pending()
    page = laptop_bank.http.get(f"{live.url}/bank/app/approvals/{approval['id']}", timeout=10).text
    assert "This browser is not one of your registered devices" in page

    from ..support import csrf_token
    refused = laptop_bank.http.post(f"{live.url}/bank/app/approvals/{approval['id']}/approve", timeout=10,
                                    data={"csrf_token": csrf_token(page), "pin": pin})
    assert "a stolen password alone must not be enough" in refused.text
    assert laptop_bank.pending()[0]["status"] == "pending"

    phone = BankCustomer(live.url, username, password)
    phone.decide(approval["id"], "approve", pin=pin)  # registers the phone with the PIN, then approves
    wait_for(lambda: shopper.order_status(order_id)["status"] == "paid", message="paid from the registered phone")


def test_registering_a_device_needs_the_right_pin(live, customer_factory):
    username, password, pin, card = customer_factory()
    phone = BankCustomer(live.url, username, password, pin="0000" if pin != "0000" else "1111")
    response = phone.api("POST", "/bank/app/api/devices", json={"name": "Thief's laptop", "pin": phone.pin})
    assert response.status_code == 403 and response.json()["error"] == "wrong_pin"
    assert "4 tries left" in response.json()["message"]
    assert phone.api("GET", "/bank/app/api/devices").json()["devices"] == []
    assert "bank_device" not in phone.http.cookies


def test_passkey_endpoints_explain_what_is_missing(live, customer_factory):
    username, password, pin, card = customer_factory()
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("headlamp")
    shopper.checkout(card)
    phone = BankCustomer(live.url, username, password, pin)
    [approval] = phone.pending()
    no_key = phone.api("POST", f"/bank/app/api/approvals/{approval['id']}/passkey-options", json={})
    assert no_key.status_code == 409 and "Set up a fingerprint" in no_key.json()["message"]
    no_challenge = phone.api("POST", f"/bank/app/api/approvals/{approval['id']}/approve-with-passkey",
                             json={"credential": {"id": "x"}})
    assert no_challenge.status_code == 409
    wrong_pin = phone.api("POST", "/bank/app/api/passkeys/options", json={"pin": "9" * 4 if pin != "9999" else "1"})
    assert wrong_pin.status_code == 403
    options = phone.api("POST", "/bank/app/api/passkeys/options", json={"pin": pin}).json()
    assert options["rp"]["id"] == "localhost"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    garbage = phone.api("POST", "/bank/app/api/passkeys", json={"credential": {"id": "x", "response": {}}})
    assert garbage.status_code == 422 and garbage.json()["error"] == "passkey_refused"

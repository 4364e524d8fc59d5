"""The factors a learner can feel: fingerprint (a virtual WebAuthn authenticator) and the PIN lock."""
import time

from playwright.sync_api import expect

from .test_payment_loop_browser import add_to_cart_and_check_out, log_in_to_bank


def _virtual_authenticator(page, context):
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})["authenticatorId"]
    return cdp, authenticator


def test_register_a_fingerprint_and_approve_with_it_and_uv_off_is_refused(
        live, laptop, phone, customer_factory, screenshots):
    username, password, pin, card = customer_factory()
    cdp, authenticator = _virtual_authenticator(phone, phone.context)
    log_in_to_bank(phone, live, username, password)
    phone.get_by_role("link", name="Devices").click()
    phone.locator("[data-pin]").fill(pin)
    phone.get_by_test_id("setup-passkey").click()
    expect(phone.get_by_test_id("passkey-list")).to_contain_text("Fingerprint or face")
    assert len(cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]) == 1

    code = add_to_cart_and_check_out(laptop, live, card)
    phone.goto(f"{live.url}/bank/app/")
    phone.get_by_test_id("approval-item").click()
    expect(phone.get_by_test_id("binding-code")).to_have_text(code)
    expect(phone.get_by_test_id("approve-passkey")).to_be_visible()

    # Without user verification (no fingerprint), nothing is approved.
    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": authenticator, "isUserVerified": False})
    phone.get_by_test_id("approve-passkey").click()
    expect(phone.locator("[data-passkey-error]")).to_contain_text("was not confirmed, so nothing was approved")
    expect(laptop.get_by_test_id("status-message")).to_have_text("Approve the payment in your banking app.")

    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": authenticator, "isUserVerified": True})
    phone.get_by_test_id("approve-passkey").click()
    expect(phone.get_by_test_id("result")).to_contain_text("Approved.")
    expect(laptop.get_by_test_id("status-message")).to_have_text(
        "Payment approved. Thank you! Your order is on its way.")
    phone.screenshot(path=screenshots / "phone-approved-with-fingerprint.png")


def test_five_wrong_pins_lock_the_card(live, laptop, phone, customer_factory):
    username, password, pin, card = customer_factory()
    add_to_cart_and_check_out(laptop, live, card)
    log_in_to_bank(phone, live, username, password, pin)
    phone.get_by_test_id("approval-item").click()
    wrong = "0000" if pin != "0000" else "1111"
    for left in (4, 3, 2, 1):
        phone.get_by_label("PIN").fill(wrong)
        phone.get_by_test_id("approve").click()
        expect(phone.get_by_role("alert")).to_have_text(
            f"Wrong PIN. {left} {'try' if left == 1 else 'tries'} left before the card locks.")
        expect(phone.get_by_test_id("pin-tries")).to_contain_text(f"{5 - left} wrong PIN")
    phone.get_by_label("PIN").fill(wrong)
    phone.get_by_test_id("approve").click()
    expect(phone.get_by_role("alert")).to_contain_text("Your card is locked after 5 wrong PINs")
    expect(phone.get_by_test_id("result")).to_contain_text("Declined. The card is blocked.")
    expect(laptop.get_by_test_id("status-message")).to_have_text("The payment was declined. The card is blocked.")
    phone.goto(f"{live.url}/bank/app/")
    expect(phone.get_by_test_id("card-locked")).to_have_text("Card locked after 5 wrong PINs")


def test_a_locked_card_refuses_the_right_pin_too_when_a_thief_registers_a_browser(live, laptop, customer_factory):
    """Issue 8, attack 1, as the thief's laptop sees it: the right PIN gets the same refusal as a wrong one."""
    username, password, pin, card = customer_factory()
    log_in_to_bank(laptop, live, username, password)
    laptop.get_by_role("link", name="Devices").click()
    wrong = "0000" if pin != "0000" else "1111"
    status = laptop.locator("[data-status]")
    for left in (4, 3, 2, 1):
        laptop.locator("[data-pin]").fill(wrong)
        laptop.get_by_test_id("register-device").click()
        expect(status).to_contain_text(f"{left} {'try' if left == 1 else 'tries'} left")
    laptop.locator("[data-pin]").fill(wrong)
    laptop.get_by_test_id("register-device").click()
    expect(status).to_contain_text("Wrong PIN. Your card is locked after 5 wrong PINs")
    for attempt in (pin, wrong):  # one answer for every PIN
        status.evaluate("node => { node.textContent = ''; }")
        laptop.locator("[data-pin]").fill(attempt)
        laptop.get_by_test_id("register-device").click()
        expect(status).to_have_text(
            "Your card is locked after 5 wrong PINs in a row. Until the bank unlocks it, no PIN is accepted "
            "and no payment can be approved: ask the bank to unlock it.")
    laptop.reload()
    expect(laptop.get_by_test_id("register-device")).to_be_visible()  # still not a registered device


def test_signing_out_of_the_bank_ends_the_session_everywhere(live, browser, phone, customer_factory):
    """Issue 8, attack 8: cookies copied before sign-out open nothing afterwards."""
    username, password, pin, card = customer_factory()
    log_in_to_bank(phone, live, username, password)
    copied = phone.context.cookies()
    phone.get_by_role("button", name="Log out").click()
    expect(phone.get_by_role("heading", name="Log in")).to_be_visible()
    thief = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        thief.add_cookies(copied)
        page = thief.new_page()
        page.goto(f"{live.url}/bank/app/")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    finally:
        thief.close()


def test_a_tap_before_the_page_script_is_ready_is_not_lost(live, phone, customer_factory):
    """On a slow phone the buttons show before their script has loaded: they wait, disabled, rather than
    swallowing the tap (the passkey approval once failed that way on a loaded machine)."""
    username, password, pin, card = customer_factory()
    log_in_to_bank(phone, live, username, password)

    def slowly(route):
        time.sleep(1.5)
        route.continue_()

    phone.route("**/js/pages/devices.js", slowly)
    phone.goto(f"{live.url}/bank/app/devices", wait_until="commit")
    button = phone.get_by_test_id("setup-passkey")
    expect(button).to_be_disabled()
    button.click()  # Playwright waits until it is enabled, as a finger would find it disabled until then
    expect(phone.locator("[data-status]")).to_have_text("Enter your PIN.")

"""Every page a learner, a merchant or an operator can open, in each state the lesson shows it: does it fit
a 360 px and a 412 px phone and a 1366 px laptop without sideways scrolling, and does axe-core find no
serious or critical problem? (The checks are in audit.py.)

The tours walk the pages as people do, so the states are real ones: forms with errors, an order
waiting and paid, a refused card, a locked card. They run in desktop contexts resized to each width, so
`innerWidth` is the width itself; a phone's browser would zoom out to hide an overflowing page.
"""
import re

import pytest
from playwright.sync_api import expect

from ..support import new_identity
from .audit import PageAudit
from .test_bank_and_error_pages_browser import a_declined_payment
from .test_payment_loop_browser import log_in_to_bank, sign_in_at_paylab_id


@pytest.fixture
def audit(artifacts):
    return PageAudit(artifacts / "page-audit.json")


@pytest.fixture
def second_screen(browser):
    """The learner's phone side, as a desktop context that the audit resizes."""
    context = browser.new_context(viewport={"width": 412, "height": 915}, locale="en-ZA")
    context.set_default_timeout(15000)
    page = context.new_page()
    yield page
    context.close()


def _submit_empty(page, button, audit):
    """Send the form empty: the page comes back with errors, and the keyboard is on the first bad field."""
    page.get_by_role("button", name=button).click()
    expect(page.locator(".field-error, [role=alert]").first).to_be_visible()
    audit.focused(page.locator("main [aria-invalid=true]").first, f"{page.url} sent empty")


def _focus_on_the_alert(page, audit):
    """A refusal with no field to blame (a wrong password): the keyboard is on the message that says so."""
    audit.focused(page.locator("main [role=alert]").first, f"{page.url} refused")


def test_pages_before_signing_in(live, laptop, audit):
    laptop.goto(f"{live.url}/")
    audit(laptop, "home page")
    laptop.goto(f"{live.url}/shop/")
    audit(laptop, "shop catalogue")
    laptop.goto(f"{live.url}/shop/products/headlamp")
    audit(laptop, "shop product")
    laptop.goto(f"{live.url}/shop/cart")
    audit(laptop, "shop cart, empty")
    laptop.goto(f"{live.url}/shop/products/headlamp")
    laptop.get_by_role("button", name="Add to cart").click()
    expect(laptop.get_by_role("heading", name="Your cart")).to_be_visible()
    audit(laptop, "shop cart, one product")
    laptop.goto(f"{live.url}/shop/signin")
    audit(laptop, "shop sign-in choice")
    laptop.goto(f"{live.url}/shop/products/no-such-thing")
    audit(laptop, "shop 404")

    laptop.goto(f"{live.url}/shop/signin")
    laptop.get_by_test_id("signin-paylab").click()
    expect(laptop.get_by_role("heading", name="Sign in")).to_be_visible()
    audit(laptop, "PayLab ID sign-in")
    laptop.get_by_label("Email").fill("nobody@example.test")
    laptop.get_by_label("Password").fill("not-the-password")
    laptop.get_by_role("button", name="Sign in").click()
    expect(laptop.get_by_role("alert")).to_be_visible()
    _focus_on_the_alert(laptop, audit)
    audit(laptop, "PayLab ID sign-in, wrong password")
    laptop.goto(f"{live.url}/idp/signup")
    audit(laptop, "PayLab ID sign-up")
    _submit_empty(laptop, "Create account", audit)
    audit(laptop, "PayLab ID sign-up, with errors")
    laptop.goto(f"{live.url}/idp/nowhere")
    audit(laptop, "PayLab ID 404")

    laptop.goto(f"{live.url}/bank/app/login")
    audit(laptop, "bank app log-in")
    laptop.get_by_label("Username").fill("nobody")
    laptop.get_by_label("Password").fill("not-the-password")
    laptop.get_by_role("button", name="Log in").click()
    expect(laptop.get_by_role("alert")).to_be_visible()
    _focus_on_the_alert(laptop, audit)
    audit(laptop, "bank app log-in, wrong password")
    laptop.goto(f"{live.url}/bank/app/signup")
    audit(laptop, "bank app sign-up")
    _submit_empty(laptop, "Open my account", audit)
    audit(laptop, "bank app sign-up, with errors")
    laptop.goto(f"{live.url}/bank/app/setup")
    audit(laptop, "bank app phone setup guide")
    laptop.goto(f"{live.url}/bank/app/offline")
    audit(laptop, "bank app offline page")
    laptop.goto(f"{live.url}/bank/app/nowhere")
    audit(laptop, "bank app 404")

    laptop.goto(f"{live.url}/bank/merchant/login")
    audit(laptop, "merchant portal sign-in")
    laptop.get_by_label("Client id").fill("nobody")
    laptop.get_by_label("Client secret").fill("not-the-secret")
    laptop.get_by_role("button", name="Sign in").click()
    expect(laptop.get_by_role("alert")).to_be_visible()
    _focus_on_the_alert(laptop, audit)
    audit(laptop, "merchant portal sign-in, wrong secret")

    laptop.goto(f"{live.url}/walkthrough/")
    audit(laptop, "walkthrough, signed out")
    laptop.goto(f"{live.url}/walkthrough/nowhere/at-all")
    audit(laptop, "walkthrough 404")
    audit.assert_clean()


def test_a_learners_whole_loop(live, laptop, second_screen, customer_factory, audit):
    phone = second_screen
    username, password, pin, card = customer_factory()
    email, id_password = new_identity(live.app)

    laptop.goto(f"{live.url}/shop/products/headlamp")
    laptop.get_by_role("button", name="Add to cart").click()
    laptop.get_by_role("link", name="Check out").click()
    laptop.get_by_test_id("signin-paylab").click()
    sign_in_at_paylab_id(laptop, email, id_password, consent=False)
    expect(laptop.get_by_test_id("client-name")).to_have_text("Veldt Market")
    audit(laptop, "PayLab ID consent")
    laptop.get_by_role("button", name="Allow").click()
    expect(laptop.get_by_role("heading", name="Confirm your order")).to_be_visible()
    audit(laptop, "shop checkout: confirm")
    laptop.get_by_role("button", name="Continue to delivery").click()
    audit(laptop, "shop checkout: delivery")
    laptop.get_by_role("button", name="Continue to address").click()
    audit(laptop, "shop checkout: address")
    _submit_empty(laptop, "Review your order", audit)
    audit(laptop, "shop checkout: address, with errors")
    laptop.get_by_label("Full name").fill("Lerato Dlamini")
    laptop.get_by_label("Mobile number").fill("082 123 4567")
    laptop.get_by_label("Street address").fill("12 Long Street")
    laptop.get_by_label("City or town").fill("Cape Town")
    laptop.get_by_label("Province").select_option("Western Cape")
    laptop.get_by_label("Postal code").fill("8001")
    laptop.get_by_role("button", name="Review your order").click()
    audit(laptop, "shop checkout: review")
    laptop.get_by_label("Card number").fill("4000 0000 0000 0001")
    laptop.get_by_role("button", name=re.compile("Pay now")).click()
    expect(laptop.locator(".field-error")).to_contain_text("check digit")
    audit.focused(laptop.get_by_label("Card number"), "a card number with a wrong check digit")
    audit(laptop, "shop checkout: review, bad card number")
    laptop.get_by_label("Card number").fill("4000 0000 0000 0002")
    laptop.get_by_role("button", name=re.compile("Pay now")).click()
    expect(laptop.get_by_test_id("status-message")).to_contain_text("Payment failed")
    audit(laptop, "shop order: payment failed, try another card")
    laptop.get_by_label("Card number").fill(card)
    laptop.get_by_test_id("retry-payment").click()
    expect(laptop.get_by_test_id("status-message")).to_have_text("Approve the payment in your banking app.")
    audit(laptop, "shop order: waiting for approval")

    log_in_to_bank(phone, live, username, password, pin)
    expect(phone.get_by_test_id("approval-item")).to_be_visible()
    audit(phone, "bank app home, a payment to approve")
    phone.get_by_test_id("approval-item").click()
    audit(phone, "bank app approval")
    phone.get_by_label("PIN").fill("0000" if pin != "0000" else "1111")
    phone.get_by_test_id("approve").click()
    expect(phone.get_by_role("alert")).to_contain_text("Wrong PIN")
    audit.focused(phone.get_by_label("PIN"), "a wrong PIN")
    audit(phone, "bank app approval, wrong PIN")
    phone.get_by_label("PIN").fill(pin)
    phone.get_by_test_id("approve").click()
    expect(phone.get_by_test_id("result")).to_contain_text("Approved.")
    audit(phone, "bank app approval, approved")
    expect(laptop.get_by_test_id("status-message")).to_contain_text("Payment approved")
    audit(laptop, "shop order: paid")

    phone.get_by_role("link", name="Account").click()
    audit(phone, "bank app account")
    phone.get_by_role("link", name="Devices").click()
    expect(phone.get_by_test_id("this-device")).to_be_visible()
    audit(phone, "bank app devices")
    phone.goto(f"{live.url}/bank/app/diagnostics")
    audit(phone, "bank app diagnostics")

    laptop.goto(f"{live.url}/shop/orders/")
    audit(laptop, "shop order history")
    laptop.goto(f"{live.url}/idp/")
    audit(laptop, "PayLab ID account")
    laptop.goto(f"{live.url}/walkthrough/")
    expect(laptop.locator('[data-step="webhook"]')).to_have_count(1)
    audit(laptop, "walkthrough, a paid journey")
    laptop.locator('[data-step="approval"]').first.locator(".label").click()
    expect(laptop.get_by_test_id("payload-panel")).to_be_visible()
    audit(laptop, "walkthrough, a message opened")
    audit.assert_clean()


def test_merchant_portal_and_a_locked_card(live, laptop, customer_factory, audit):
    shopper, customer, _declined, (username, password, pin, card) = a_declined_payment(live, customer_factory)

    laptop.goto(f"{live.url}/bank/merchant/login")
    laptop.get_by_label("Client id").fill(live.app.config["BANK_CLIENT_ID"])
    laptop.get_by_label("Client secret").fill(live.app.config["BANK_CLIENT_SECRET"])
    laptop.get_by_role("button", name="Sign in").click()
    expect(laptop.get_by_test_id("webhook-table")).to_contain_text("payment_request.declined")
    audit(laptop, "merchant portal dashboard")

    shopper.fill_cart("succulent-pot")
    shopper.checkout(card)
    [approval] = customer.pending()
    for _ in range(5):
        customer.decide(approval["id"], "approve", pin="0000" if pin != "0000" else "1111")
    log_in_to_bank(laptop, live, username, password)
    expect(laptop.get_by_test_id("card-locked")).to_be_visible()
    audit(laptop, "bank app home, card locked")
    audit.assert_clean()

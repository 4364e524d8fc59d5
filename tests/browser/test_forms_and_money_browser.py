"""Issue 10 as a learner meets it, on a laptop and on a phone: forms and money."""
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.bank.models import Customer
from app.extensions import db

from ..support import in_app_db, new_identity
from .test_payment_loop_browser import log_in_to_bank, sign_in_at_paylab_id

UNKNOWN_CARD = "4000 0000 0000 0002"  # Luhn-valid, but no Baobab Bank card


@pytest.fixture(params=["laptop", "phone"])
def screen(request):
    """The same steps at laptop size (1366×768) and at phone size (Pixel 7)."""
    return request.getfixturevalue(request.param)


def _signed_in_shopper_with_a_headlamp(page, live):
    page.goto(f"{live.url}/shop/")
    page.locator("[data-testid=product-headlamp] button").click()  # R 399.00
    page.goto(f"{live.url}/shop/checkout/")
    page.get_by_test_id("signin-paylab").click()
    sign_in_at_paylab_id(page, *new_identity(live.app))
    page.get_by_role("button", name="Continue to delivery").click()


def test_checkout_totals_the_chosen_delivery_and_a_refused_card_fails_the_payment(live, screen, customer_factory):
    card = customer_factory()[3]
    _signed_in_shopper_with_a_headlamp(screen, live)

    # Delivery: the preselected R 65 courier is in the total, and every other choice updates it.
    expect(screen.get_by_label(re.compile("Standard courier"))).to_be_checked()
    expect(screen.get_by_test_id("delivery-fee")).to_have_text("R 65.00")
    expect(screen.get_by_test_id("order-total")).to_have_text("R 464.00")
    screen.get_by_text("Express courier").click()
    expect(screen.get_by_test_id("delivery-fee")).to_have_text("R 149.00")
    expect(screen.get_by_test_id("order-total")).to_have_text("R 548.00")
    screen.get_by_text("Collect in store").click()
    expect(screen.get_by_test_id("delivery-fee")).to_have_text("R 0.00")
    expect(screen.get_by_test_id("order-total")).to_have_text("R 399.00")
    screen.get_by_text("Standard courier").click()
    screen.get_by_role("button", name="Continue to address").click()
    expect(screen.get_by_test_id("order-total")).to_have_text("R 464.00")

    # Address: a field without a placeholder has none (it used to say "None").
    for label in ("Full name", "Suburb", "City or town"):
        assert screen.get_by_label(label).get_attribute("placeholder") is None, label
        assert screen.get_by_label(label).get_attribute("inputmode") is None, label
    assert screen.get_by_label("Postal code").get_attribute("placeholder") == "8001"
    screen.get_by_label("Full name").fill("Lerato Dlamini")
    screen.get_by_label("Mobile number").fill("082 123 4567")
    screen.get_by_label("Street address").fill("1")
    screen.get_by_label("City or town").fill("Cape Town")
    screen.get_by_label("Province").select_option("Western Cape")
    screen.get_by_label("Postal code").fill("8001")
    screen.get_by_role("button", name="Review your order").click()
    expect(screen.get_by_text("Enter a street address of 3 to 120 characters.")).to_be_visible()
    screen.get_by_label("Street address").fill("12 Long Street")
    screen.get_by_role("button", name="Review your order").click()

    # A card the bank does not know: the order page says the payment failed, never "waiting".
    screen.get_by_label("Card number").fill(UNKNOWN_CARD)
    screen.get_by_role("button", name=re.compile("Pay now")).click()
    message = screen.get_by_test_id("status-message")
    expect(message).to_contain_text("Payment failed: Baobab Bank refused the card ending in 0002")
    expect(message).to_contain_text("Try another card.")
    expect(screen.locator("[data-step=waiting]")).not_to_have_class(re.compile("current"))
    expect(screen.locator("[data-step=final]")).to_have_class(re.compile("bad"))
    expect(screen.locator("[data-step=final]")).to_have_text("Payment failed")
    expect(screen.locator("[data-waiting]")).to_be_hidden()
    retry = screen.get_by_label("Card number")
    expect(retry).to_be_visible()
    assert retry.get_attribute("placeholder") != "None"

    # Another card: the bank is asked, and now the page waits for the approval.
    retry.fill(card)
    screen.get_by_test_id("retry-payment").click()
    expect(message).to_have_text("Approve the payment in your banking app.")
    expect(screen.locator("[data-step=waiting]")).to_have_class(re.compile("current"))
    expect(screen.get_by_test_id("binding-code")).to_have_text(re.compile(r"^\d{4}$"))


def _failed_pin_attempts(live, username):
    return in_app_db(live, lambda: db.session.scalar(select(Customer).where(Customer.username == username))
                     .cards[0].failed_pin_attempts)


def test_setting_up_a_fingerprint_without_a_pin_costs_no_pin_try(live, screen, customer_factory):
    username, password, pin, card = customer_factory()
    log_in_to_bank(screen, live, username, password)
    screen.get_by_role("link", name="Devices").click()
    status = screen.locator("[data-status]")

    def press(button, expected):
        """Click, then wait for this click's own answer (the one before is wiped first)."""
        status.evaluate("node => { node.textContent = ''; }")
        screen.get_by_test_id(button).click()
        expect(status).to_have_text(expected)

    expect(screen.locator("[data-pin]")).to_have_value("")
    press("setup-passkey", "Enter your PIN.")
    expect(screen.locator("[data-pin]")).to_be_focused()
    assert _failed_pin_attempts(live, username) == 0
    # Nor do spaces typed by mistake count as a wrong PIN, here or when registering the device.
    screen.locator("[data-pin]").fill("  ")
    press("setup-passkey", "Enter your PIN.")
    press("register-device", "Enter your PIN.")
    assert _failed_pin_attempts(live, username) == 0
    # A wrong PIN still counts: the check is not switched off.
    screen.locator("[data-pin]").fill("0000" if pin != "0000" else "1111")
    press("setup-passkey", "Wrong PIN. 4 tries left before the card locks.")
    assert _failed_pin_attempts(live, username) == 1


def test_add_funds_on_the_account_page(live, screen, customer_factory):
    username, password, pin, card = customer_factory(balance=100000)
    log_in_to_bank(screen, live, username, password)
    screen.get_by_role("link", name="Account").click()
    expect(screen.get_by_test_id("balance")).to_have_text("R 1 000.00")
    amount = screen.get_by_label("Amount to add (R)")
    assert amount.get_attribute("placeholder") != "None"
    amount.fill("12.345")
    screen.get_by_role("button", name="Add funds").click()
    expect(screen.get_by_text("Enter the amount in rand with at most 2 decimals, such as 250.50.")).to_be_visible()
    screen.get_by_label("Amount to add (R)").fill("5000.01")
    screen.get_by_role("button", name="Add funds").click()
    expect(screen.get_by_text("You can add up to R 5 000.00 in 24 hours")).to_be_visible()
    screen.get_by_label("Amount to add (R)").fill("250.50")
    screen.get_by_role("button", name="Add funds").click()
    expect(screen.get_by_role("status")).to_contain_text("Added R 250.50 to your account.")
    expect(screen.get_by_test_id("balance")).to_have_text("R 1 250.50")
    first = screen.get_by_test_id("transactions").locator("li").first
    expect(first).to_contain_text("Funds added")
    expect(first).to_contain_text("R 250.50")
    expect(screen.get_by_test_id("add-funds-left")).to_contain_text("R 4 749.50")


def test_the_bank_sign_up_names_every_missing_field(live, screen):
    screen.goto(f"{live.url}/bank/app/signup")
    screen.get_by_role("button", name="Open my account").click()
    for message in ("Enter your name.", "Enter a username.", "Choose a password.", "Choose a PIN of 4 to 6 digits.",
                    "Type your PIN again."):
        expect(screen.get_by_text(message, exact=True)).to_be_visible()
    expect(screen.get_by_text("This field is required.")).to_have_count(0)
    screen.get_by_label("Username").fill("ab")
    screen.get_by_role("button", name="Open my account").click()
    expect(screen.get_by_text("Choose a username of 3 to 40 characters.")).to_be_visible()


def test_deny_at_paylab_id_is_told_in_plain_words(live, screen):
    screen.goto(f"{live.url}/shop/signin")
    screen.get_by_test_id("signin-paylab").click()
    sign_in_at_paylab_id(screen, *new_identity(live.app), consent=False)
    expect(screen.get_by_test_id("client-name")).to_have_text("Veldt Market")
    screen.get_by_role("button", name="Deny").click()
    expect(screen.get_by_test_id("signin-error")).to_have_text(
        "You chose not to share your PayLab ID with Veldt Market, so you are not signed in. "
        "Try again when you are ready.")
    expect(screen.get_by_test_id("signin-paylab")).to_be_visible()  # trying again is one click away

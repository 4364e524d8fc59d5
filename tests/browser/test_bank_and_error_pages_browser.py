"""The other pages a learner touches: opening a bank account, the merchant portal, friendly errors."""
import itertools
import re

from playwright.sync_api import expect

from ..support import BankCustomer, Shopper, new_identity
from .audit import PageAudit
from .test_payment_loop_browser import sign_in_at_paylab_id

_names = itertools.count(1)


def test_open_an_account_in_the_bank_app_and_pay_with_the_new_card(live, phone, screenshots):
    username = f"newlearner{next(_names)}"
    phone.goto(f"{live.url}/bank/app/login")
    phone.get_by_role("link", name="Open an account").click()
    phone.get_by_label("Your name").fill("Naledi Khumalo")
    phone.get_by_label("Username").fill(username)
    phone.get_by_label("Password").fill("short")
    phone.get_by_label("PIN", exact=True).fill("12a4")
    phone.get_by_label("PIN again").fill("1234")
    phone.get_by_role("button", name="Open my account").click()
    expect(phone.get_by_text("Choose a password of at least 8 characters.")).to_be_visible()
    expect(phone.get_by_text("The PIN must be 4 to 6 digits.")).to_be_visible()

    phone.get_by_label("Password").fill("a-long-password")
    phone.get_by_label("PIN", exact=True).fill("2580")
    phone.get_by_label("PIN again").fill("2580")
    phone.get_by_role("button", name="Open my account").click()
    expect(phone.get_by_role("status")).to_contain_text("Welcome to Baobab Bank!")
    expect(phone.get_by_test_id("balance")).to_have_text("R 5 000.00")
    card = phone.get_by_test_id("card-number").inner_text().replace(" ", "")
    assert re.fullmatch(r"400012\d{10}", card)
    phone.screenshot(path=screenshots / "bank-home.png")

    # The same username cannot be taken twice.
    phone.get_by_role("button", name="Log out").click()
    phone.get_by_role("link", name="Open an account").click()
    phone.get_by_label("Your name").fill("Someone Else")
    phone.get_by_label("Username").fill(username)
    phone.get_by_label("Password").fill("another-password")
    phone.get_by_label("PIN", exact=True).fill("1357")
    phone.get_by_label("PIN again").fill("1357")
    phone.get_by_role("button", name="Open my account").click()
    expect(phone.get_by_text("That username is taken; choose another.")).to_be_visible()

    # The new card really pays (the approval is driven over HTTP here; the full UI loop is in the other file).
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("beaded-bracelet")
    order_id, _ = shopper.checkout(card)
    customer = BankCustomer(live.url, username, "a-long-password", pin="2580")
    [approval] = customer.pending()
    customer.decide(approval["id"], "approve", pin="2580")
    phone.goto(f"{live.url}/bank/app/login")
    phone.get_by_label("Username").fill(username)
    phone.get_by_label("Password").fill("a-long-password")
    phone.get_by_role("button", name="Log in").click()
    phone.get_by_role("link", name="Account").click()
    expect(phone.get_by_test_id("balance")).to_have_text("R 4 695.00")
    expect(phone.get_by_test_id("transactions")).to_contain_text("Opening deposit")


def a_declined_payment(live, customer_factory):
    """A shopper pays with a new customer's card, who declines it: the merchant portal has a row and a
    webhook. Returns (shopper, customer, the declined approval, (username, password, pin, card))."""
    username, password, pin, card = customer_factory()
    shopper = Shopper.signed_in(live)
    shopper.fill_cart("succulent-pot")
    shopper.checkout(card)
    customer = BankCustomer(live.url, username, password, pin=pin)
    [approval] = customer.pending()
    customer.decide(approval["id"], "decline")
    return shopper, customer, approval, (username, password, pin, card)


def test_merchant_portal_shows_payments_and_webhook_attempts(live, laptop, customer_factory, screenshots):
    approval = a_declined_payment(live, customer_factory)[2]

    laptop.goto(f"{live.url}/bank/merchant/")
    laptop.get_by_label("Client id").fill(live.app.config["BANK_CLIENT_ID"])
    laptop.get_by_label("Client secret").fill("not-the-secret")
    laptop.get_by_role("button", name="Sign in").click()
    expect(laptop.get_by_role("alert")).to_have_text("Those credentials do not match a merchant.")
    laptop.get_by_label("Client id").fill(live.app.config["BANK_CLIENT_ID"])
    laptop.get_by_label("Client secret").fill(live.app.config["BANK_CLIENT_SECRET"])
    laptop.get_by_role("button", name="Sign in").click()
    row = laptop.get_by_test_id("webhook-table").locator("tr", has_text=approval["id"])
    expect(row).to_contain_text("payment_request.declined")
    expect(row).to_contain_text("delivered")
    expect(row).to_contain_text("200")
    laptop.screenshot(path=screenshots / "bank-merchant-portal.png", full_page=True)


def test_error_pages_look_like_their_site(live, laptop, phone):
    laptop.goto(f"{live.url}/shop/products/no-such-thing")
    expect(laptop.locator(".error-code")).to_have_text("404")
    expect(laptop.get_by_text("We do not sell that product (any more).")).to_be_visible()
    expect(laptop.get_by_role("link", name="Back to the shop")).to_be_visible()
    laptop.goto(f"{live.url}/shop/orders/999999")  # orders need a signed-in customer first
    expect(laptop.get_by_role("heading", name="Sign in to Veldt Market")).to_be_visible()
    laptop.get_by_test_id("signin-paylab").click()
    sign_in_at_paylab_id(laptop, *new_identity(live.app))
    expect(laptop.get_by_text("No such order in your order history.")).to_be_visible()
    expect(laptop.locator(".error-code")).to_have_text("404")

    phone.goto(f"{live.url}/bank/app/nowhere")
    expect(phone.locator(".big-number")).to_have_text("404")
    expect(phone.get_by_role("link", name="Back to the app")).to_be_visible()


def test_bank_pages_the_tours_skip_fit_a_phone_too(live, laptop, customer_factory, artifacts):
    """The add-funds form with an error, the devices screen of a browser that is not a device yet, and an
    approval waiting on a locked card: the same checks as every other page (audit.py)."""
    audit = PageAudit(artifacts / "page-audit-bank-extra.json")
    username, password, pin, card = customer_factory()
    laptop.goto(f"{live.url}/bank/app/login")
    laptop.get_by_label("Username").fill(username)
    laptop.get_by_label("Password").fill(password)
    laptop.get_by_role("button", name="Log in").click()
    expect(laptop.get_by_test_id("balance")).to_be_visible()

    laptop.get_by_role("link", name="Account").click()
    laptop.get_by_label("Amount to add (R)").fill("lots")
    laptop.get_by_role("button", name="Add funds").click()
    expect(laptop.locator(".field-error")).to_be_visible()
    amount = laptop.get_by_label("Amount to add (R)")
    expect(amount).to_have_attribute("aria-invalid", "true")
    expect(amount).to_have_accessible_description(re.compile(r"\S"))
    audit.focused(amount, "an amount that is not one")
    audit(laptop, "bank app account, add-funds error")

    laptop.get_by_role("link", name="Devices").click()
    expect(laptop.get_by_test_id("not-a-device")).to_be_visible()
    audit(laptop, "bank app devices, not a device yet")

    # Two orders waiting on the same card; five wrong PINs lock it (and decline the first).
    first, second = Shopper.signed_in(live), Shopper.signed_in(live)
    for shopper in (first, second):
        shopper.fill_cart("succulent-pot")
        shopper.checkout(card)
    customer = BankCustomer(live.url, username, password, pin=pin)
    waiting = customer.pending()
    assert len(waiting) == 2
    for _ in range(5):
        customer.decide(waiting[0]["id"], "approve", pin="0000" if pin != "0000" else "1111")
    [still_waiting] = customer.pending()
    laptop.goto(f"{live.url}/bank/app/approvals/{still_waiting['id']}")
    expect(laptop.get_by_test_id("card-locked")).to_be_visible()
    audit(laptop, "bank app approval, card locked")
    audit.assert_clean()

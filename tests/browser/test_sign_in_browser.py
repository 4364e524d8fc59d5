"""Sign in with PayLab ID, as a new learner lives it: sign up, consent, pay, sign out, come back."""
import itertools
import re

from playwright.sync_api import expect

from .test_payment_loop_browser import add_to_cart_and_check_out, log_in_to_bank, sign_in_at_paylab_id

_names = itertools.count(1)


def test_new_learner_signs_up_consents_pays_and_returns_without_second_consent(
        live, laptop, phone, customer_factory, screenshots):
    username, password, pin, card = customer_factory()
    email = f"naledi{next(_names)}@example.co.za"

    laptop.goto(f"{live.url}/shop/")
    laptop.get_by_test_id("sign-in-link").click()
    expect(laptop.get_by_role("heading", name="Sign in to Veldt Market")).to_be_visible()
    laptop.screenshot(path=screenshots / "shop-sign-in.png")
    laptop.get_by_test_id("signin-paylab").click()

    # At the identity provider: no account yet, so create one.
    expect(laptop).to_have_url(re.compile(r"/idp/signin\?next="))
    laptop.get_by_role("link", name="Create one").click()
    laptop.get_by_label("Your name").fill("Naledi Khumalo")
    laptop.get_by_label("Email").fill(email)
    laptop.get_by_label("Password").fill("too-short")
    laptop.get_by_role("button", name="Create account").click()
    expect(laptop.get_by_text("Choose a password of at least 10 characters.")).to_be_visible()
    laptop.get_by_label("Password").fill("veld and baobab trees")
    laptop.get_by_role("button", name="Create account").click()

    # The consent screen names the shop and what it may see.
    expect(laptop.get_by_test_id("client-name")).to_have_text("Veldt Market")
    expect(laptop.get_by_text("See your email address")).to_be_visible()
    laptop.screenshot(path=screenshots / "idp-consent.png")
    laptop.get_by_role("button", name="Allow").click()

    # Back in the shop, signed in with the profile from the id_token and userinfo.
    expect(laptop.get_by_test_id("signed-in-as")).to_have_text("Naledi Khumalo")
    code = add_to_cart_and_check_out(laptop, live, card, identity=False)
    expect(laptop.get_by_text(email)).to_be_visible()

    log_in_to_bank(phone, live, username, password, pin)
    phone.get_by_test_id("approval-item").click()
    expect(phone.get_by_test_id("binding-code")).to_have_text(code)
    phone.get_by_label("PIN").fill(pin)
    phone.get_by_test_id("approve").click()
    expect(laptop.get_by_test_id("status-message")).to_have_text(
        "Payment approved. Thank you! Your order is on its way.")

    # Signing out of the shop clears only the shop's session.
    laptop.get_by_role("button", name="Sign out").click()
    expect(laptop.get_by_test_id("sign-in-link")).to_be_visible()
    laptop.goto(f"{live.url}/idp/")
    expect(laptop.get_by_role("heading", name="Hello, Naledi Khumalo")).to_be_visible()
    expect(laptop.locator(".apps")).to_contain_text("Veldt Market")

    # Signing in again: PayLab ID remembers the consent, so there is no second consent screen.
    laptop.goto(f"{live.url}/shop/orders/")
    laptop.get_by_test_id("signin-paylab").click()
    expect(laptop.get_by_role("heading", name="My orders")).to_be_visible()
    expect(laptop.locator(".orders-table tbody tr")).to_have_count(1)

    # Even after signing out of PayLab ID too: a password, but still no consent screen.
    laptop.goto(f"{live.url}/idp/")
    laptop.get_by_role("button", name="Sign out of PayLab ID").click()
    laptop.goto(f"{live.url}/shop/")
    laptop.get_by_role("button", name="Sign out").click()
    laptop.get_by_test_id("sign-in-link").click()
    laptop.get_by_test_id("signin-paylab").click()
    sign_in_at_paylab_id(laptop, email, "veld and baobab trees", consent=False)
    expect(laptop.get_by_test_id("signed-in-as")).to_have_text("Naledi Khumalo")
    expect(laptop).to_have_url(re.compile(r"/shop/$"))

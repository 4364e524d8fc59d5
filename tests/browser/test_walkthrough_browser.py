"""The walkthrough, open next to the shop: arrows appear while the learner pays, and open to their JSON."""
import re

from playwright.sync_api import expect

from ..support import new_identity
from .test_payment_loop_browser import add_to_cart_and_check_out, log_in_to_bank, sign_in_at_paylab_id


def test_arrows_appear_during_a_live_checkout_and_open_to_their_payload(
        live, laptop, phone, customer_factory, screenshots):
    username, password, pin, card = customer_factory()
    laptop.goto(f"{live.url}/shop/")
    laptop.get_by_test_id("sign-in-link").click()
    laptop.get_by_test_id("signin-paylab").click()
    sign_in_at_paylab_id(laptop, *new_identity(live.app))

    walkthrough = laptop.context.new_page()
    walkthrough.set_viewport_size({"width": 1600, "height": 1000})
    walkthrough.goto(f"{live.url}/walkthrough/")
    expect(walkthrough.get_by_test_id("arrow").first).to_be_visible()  # the sign-in is already there
    signed_in_arrows = walkthrough.get_by_test_id("arrow").count()
    walkthrough.wait_for_function("() => window.paylabWalkthroughSocket && window.paylabWalkthroughSocket.connected")

    code = add_to_cart_and_check_out(laptop, live, card, identity=False)
    expect(walkthrough.locator('[data-step="payment_request"]')).to_have_count(1)
    expect(walkthrough.locator('[data-step="push_send"]')).to_have_count(0)  # no device with push here
    assert walkthrough.get_by_test_id("arrow").count() > signed_in_arrows

    log_in_to_bank(phone, live, username, password, pin)
    phone.get_by_test_id("approval-item").click()
    phone.get_by_label("PIN").fill(pin)
    phone.get_by_test_id("approve").click()
    expect(walkthrough.locator('[data-step="approval"]')).to_have_count(1)
    expect(walkthrough.locator('[data-step="webhook"]')).to_have_count(1)
    expect(walkthrough.locator('[data-step="approval"] [data-testid="factor-badge"]')).to_have_count(2)
    expect(walkthrough.locator("[data-ledger] tbody tr")).to_have_count(2)
    expect(walkthrough.locator("[data-ledger]")).to_contain_text("−R 947.00")

    walkthrough.locator('[data-step="payment_request"]').click()
    panel = walkthrough.get_by_test_id("payload-panel")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text(code)  # the real JSON: the bank's answer carries the binding code
    expect(panel).to_contain_text("Bearer •••• (redacted)")
    expect(panel).not_to_contain_text(card)
    walkthrough.get_by_role("button", name="Show it in the diagram").first.click()
    expect(walkthrough.locator('[data-step="bank_token"].selected, [data-step="payment_request"].selected')).to_have_count(1)
    walkthrough.screenshot(path=screenshots / "walkthrough.png", full_page=True)

    # Reloading shows the whole history; the journey can be replayed.
    walkthrough.reload()
    expect(walkthrough.locator('[data-step="webhook"]')).to_have_count(1)
    walkthrough.get_by_role("button", name="Replay").click()
    expect(walkthrough.locator('[data-step="webhook"]')).to_have_count(1, timeout=20000)
    expect(laptop.get_by_test_id("walkthrough-link")).to_have_attribute("href", re.compile(r"^/walkthrough/[0-9a-f]{32}$"))

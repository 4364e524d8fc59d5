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


def test_opened_before_sign_in_it_goes_live_when_the_learner_signs_in_in_another_tab(live, laptop):
    """README step 1 opens the walkthrough first: it must follow the sign-in without a manual reload."""
    walkthrough = laptop.context.new_page()
    walkthrough.goto(f"{live.url}/walkthrough/")
    expect(walkthrough.get_by_role("heading", name="See your checkout under the hood")).to_be_visible()
    laptop.goto(f"{live.url}/shop/")
    laptop.get_by_test_id("sign-in-link").click()
    laptop.get_by_test_id("signin-paylab").click()
    sign_in_at_paylab_id(laptop, *new_identity(live.app))
    expect(walkthrough.get_by_test_id("diagram")).to_be_visible()  # went live by itself
    expect(walkthrough.locator('[data-step="signin_callback"]')).to_have_count(1)


def test_a_wrong_pin_is_drawn_refused_with_the_failed_factor(live, laptop, phone, customer_factory):
    username, password, pin, card = customer_factory()
    log_in_to_bank(phone, live, username, password, pin)
    add_to_cart_and_check_out(laptop, live, card)
    walkthrough = laptop.context.new_page()
    walkthrough.goto(f"{live.url}/walkthrough/")
    walkthrough.wait_for_function("() => window.paylabWalkthroughSocket && window.paylabWalkthroughSocket.connected")
    phone.get_by_test_id("approval-item").click()
    phone.get_by_label("PIN").fill("0000" if pin != "0000" else "1111")
    phone.get_by_test_id("approve").click()
    expect(phone.get_by_role("alert")).to_have_text("Wrong PIN. 4 tries left before the card locks.")
    refused = walkthrough.locator('[data-step="approval"][data-refused="true"]')
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text("✗ refused")
    expect(refused.locator('[data-factor="knowledge:pin"][data-failed="true"]')).to_have_count(1)
    expect(refused.locator('[data-factor="possession:device"][data-failed="false"]')).to_have_count(1)
    refused.locator(".label").click()
    expect(walkthrough.get_by_test_id("refusal")).to_contain_text("Wrong PIN")


def test_the_diagram_is_readable_at_1366_without_sideways_scrolling(live, laptop, phone, customer_factory):
    """Every label and factor badge stays inside the diagram's panel on a 1366x768 laptop."""
    username, password, pin, card = customer_factory()
    log_in_to_bank(phone, live, username, password, pin)
    add_to_cart_and_check_out(laptop, live, card)
    phone.get_by_test_id("approval-item").click()
    phone.get_by_label("PIN").fill(pin)
    phone.get_by_test_id("approve").click()
    walkthrough = laptop.context.new_page()
    walkthrough.set_viewport_size({"width": 1366, "height": 768})
    walkthrough.goto(f"{live.url}/walkthrough/")
    expect(walkthrough.locator('[data-step="webhook"]')).to_have_count(1)
    expect(walkthrough.locator('[data-step="approval"] [data-testid="factor-badge"]')).to_have_count(2)
    overflow = walkthrough.evaluate("""() => {
        const box = document.querySelector('[data-diagram]');
        const limit = box.getBoundingClientRect();
        const outside = [...box.querySelectorAll('.label, [data-testid=factor-badge]')]
          .map((node) => node.getBoundingClientRect())
          .filter((r) => r.left < limit.left - 0.5 || r.right > limit.right + 0.5).length;
        return {scroll: box.scrollWidth - box.clientWidth, page: document.documentElement.scrollWidth - innerWidth,
                outside};
    }""")
    assert overflow == {"scroll": 0, "page": 0, "outside": 0}, overflow


def test_on_a_phone_the_diagram_scrolls_in_its_own_box_and_arrows_open_from_the_keyboard(live, laptop):
    """At 360 px the page reflows; only the diagram (a focusable region) scrolls sideways. Arrows are buttons."""
    laptop.set_viewport_size({"width": 360, "height": 780})
    laptop.goto(f"{live.url}/shop/")
    laptop.get_by_test_id("sign-in-link").click()
    laptop.get_by_test_id("signin-paylab").click()
    sign_in_at_paylab_id(laptop, *new_identity(live.app))
    laptop.goto(f"{live.url}/walkthrough/")
    expect(laptop.locator('[data-step="signin_callback"]')).to_have_count(1)
    widths = laptop.evaluate("""() => {
        const box = document.querySelector('[data-diagram]');
        return {page: document.documentElement.scrollWidth - innerWidth, inside: box.scrollWidth - box.clientWidth};
    }""")
    assert widths["page"] == 0 and widths["inside"] > 0, widths
    expect(laptop.get_by_role("region", name="Message diagram")).to_have_attribute("tabindex", "0")

    laptop.locator('[data-step="signin_callback"]').focus()
    laptop.keyboard.press("Space")
    expect(laptop.get_by_test_id("payload-panel")).to_be_visible()
    expect(laptop.get_by_test_id("payload-panel")).to_contain_text("/shop/auth/paylab/callback")
    expect(laptop.locator("[data-payload-body]")).to_have_attribute("tabindex", "0")

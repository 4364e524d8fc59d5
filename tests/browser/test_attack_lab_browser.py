"""The attack lab in a real browser: attacks run from its buttons against the learner's own checkout, each
shows what stopped it and that the order did not move, and the walkthrough draws them as red arrows from
the attacker's lane. At 360, 412 and 1366 px: no sideways scrolling, no serious axe-core finding."""
import re

from playwright.sync_api import expect

from ..support import BankCustomer, wait_for
from .audit import PageAudit
from .test_payment_loop_browser import add_to_cart_and_check_out


def try_attack(lab, slug):
    card = lab.locator(f'[data-attack="{slug}"]')
    card.get_by_role("button", name="Try it").click()
    return card


def test_attacks_from_the_lab_are_refused_drawn_red_and_change_nothing(live, laptop, customer_factory, artifacts,
                                                                      screenshots):
    audit = PageAudit(artifacts / "page-audit.json")
    username, password, pin, card = customer_factory()
    phone = BankCustomer(live.url, username, password, pin)
    phone.register_device()
    add_to_cart_and_check_out(laptop, live, card)
    order_id = int(re.search(r"/shop/orders/(\d+)$", laptop.url).group(1))

    lab = laptop.context.new_page()
    lab.goto(f"{live.url}/lab/")
    expect(lab.get_by_role("heading", name="Try to break it", level=1)).to_be_visible()
    expect(lab.locator("[data-target-payment]")).to_contain_text(f"order-{order_id}")
    expect(lab.locator("[data-target-payment]")).to_contain_text("the shop shows the order as")

    forged = try_attack(lab, "forge-webhook")
    expect(forged.get_by_test_id("verdict")).to_contain_text("The defence held")
    expect(forged.get_by_test_id("attempt")).to_have_count(2)
    expect(forged.get_by_test_id("attempt").first).to_contain_text("POST /shop/webhooks/bank → 400")
    expect(forged.get_by_test_id("attempt").first).to_contain_text("Stopped by: No Bank-Signature")
    expect(forged.get_by_test_id("order-check")).to_contain_text("unchanged.")
    assert phone.pending(), "the payment is still waiting for the phone"

    thief = lab.locator('[data-attack="stolen-password"]')
    thief.get_by_label("Your bank app username").fill(username)
    thief.get_by_label("Your bank app password").fill(password)
    thief.get_by_role("button", name="Try it").click()
    expect(thief.get_by_test_id("verdict")).to_contain_text("The defence held")
    expect(thief.get_by_test_id("attempt")).to_contain_text("Stopped by: Not a registered device")
    expect(thief.get_by_test_id("order-check")).to_contain_text("unchanged.")

    needs = try_attack(lab, "replay-webhook")
    expect(needs.get_by_test_id("needs")).to_contain_text("Complete a checkout first")
    audit(lab, "attack lab, a payment waiting")

    [approval] = phone.pending()
    phone.decide(approval["id"], "approve", pin=pin)
    wait_for(lambda: "caught a signed webhook" in lab.evaluate(
        "() => fetch('/lab/api/targets').then(r => r.json()).then(t => t.captured_webhook ? 'caught a signed webhook' : '')"),
        message="the wiretap caught the bank's event")
    lab.reload()
    expect(lab.locator("[data-target-capture]")).to_contain_text("caught a signed webhook")
    for slug in ("any-old-server", "tamper-webhook", "replay-webhook"):
        result = try_attack(lab, slug)
        expect(result.get_by_test_id("verdict")).to_contain_text("The defence held")
    replay = lab.locator('[data-attack="replay-webhook"]')
    expect(replay.get_by_test_id("attempt").first).to_contain_text("Stopped by: Deduplicated")
    expect(replay.get_by_test_id("order-check")).to_contain_text("paid before, paid after: unchanged.")
    audit(lab, "attack lab, after four attacks")
    lab.set_viewport_size({"width": 1366, "height": 900})
    lab.screenshot(path=screenshots / "attack-lab.png", full_page=True)

    with lab.context.expect_page() as opened:
        replay.get_by_role("link", name="See the red arrows in the walkthrough").click()
    walkthrough = opened.value
    walkthrough.set_viewport_size({"width": 1600, "height": 1000})
    expect(walkthrough.locator(".lane-title.lane-attacker")).to_have_text("Attacker")
    attacks = walkthrough.locator('[data-step="attack"]')
    refused = walkthrough.locator('[data-step="attack"][data-refused="true"]')
    # 2 forged, the thief's approval, 2 from any old server, 1 tampered, 2 replayed: each refused
    expect(refused).to_have_count(8)
    attacks.last.click()
    panel = walkthrough.get_by_test_id("payload-panel")
    expect(panel.get_by_test_id("attack-note")).to_contain_text('Attack lab, "Replay a real webhook"')
    expect(panel.get_by_test_id("refusal")).to_contain_text("Stale")
    audit(walkthrough, "walkthrough with the attacker's arrows")
    walkthrough.set_viewport_size({"width": 1600, "height": 1000})
    walkthrough.screenshot(path=screenshots / "attack-lab-walkthrough.png", full_page=True)
    audit.assert_clean()


def test_on_a_phone_the_lab_runs_an_attack_and_fits_the_screen(live, phone, customer_factory, artifacts):
    add_to_cart_and_check_out(phone, live, customer_factory()[3])
    phone.goto(f"{live.url}/lab/")
    result = try_attack(phone, "any-old-server")
    expect(result.get_by_test_id("verdict")).to_contain_text("The defence held")
    expect(result.get_by_test_id("attempt").nth(1)).to_contain_text("Stopped by: Unknown token")
    width, inner = phone.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the lab is {width} px wide on a {inner} px phone"


def test_signed_out_the_lab_asks_for_the_shop_sign_in_first(live, laptop):
    laptop.goto(f"{live.url}/lab/")
    expect(laptop.get_by_role("heading", name="See your checkout under the hood")).to_be_visible()
    expect(laptop.get_by_role("link", name="Sign in to Veldt Market")).to_be_visible()


def test_guessing_the_pin_on_the_phone_locks_the_card_and_declines_the_payment(live, phone, customer_factory):
    """Attack 7 runs in the phone's browser (a thief holding the unlocked phone): five wrong PINs lock the
    card and decline the payment; no money moves, and the page says how the bank unlocks it."""
    from app.bank.models import Card, Customer, LedgerEntry, PaymentRequest
    from app.extensions import db
    from sqlalchemy import func, select

    from ..support import Shopper, in_app_db, new_identity
    from .test_payment_loop_browser import log_in_to_bank, sign_in_at_paylab_id

    username, password, pin, card = customer_factory()
    identity = new_identity(live.app)
    laptop = Shopper(live.url)
    laptop.sign_in(*identity)
    laptop.fill_cart("headlamp")
    order_id, _ = laptop.checkout(card)
    entries_before = in_app_db(live, lambda: db.session.scalar(select(func.count()).select_from(LedgerEntry)))

    log_in_to_bank(phone, live, username, password, pin)  # the phone, registered for approvals
    phone.goto(f"{live.url}/shop/signin/paylab")  # the same learner, signed in to the shop on the phone too
    sign_in_at_paylab_id(phone, *identity, consent=False)
    phone.goto(f"{live.url}/lab/")
    expect(phone.locator("[data-target-payment]")).to_contain_text(f"order-{order_id}")
    result = try_attack(phone, "guess-pin")
    expect(result.get_by_test_id("verdict")).to_contain_text("After 5 wrong PINs the card locked", timeout=30000)
    expect(result.get_by_test_id("attempt")).to_have_count(5)
    expect(result.get_by_test_id("attempt").first).to_contain_text("Wrong PIN. 4 tries left")
    expect(result.get_by_test_id("unlock")).to_contain_text("make unlock-card CUSTOMER=")

    def bank_side():
        customer = db.session.scalar(select(Customer).where(Customer.username == username))
        payment = db.session.scalar(select(PaymentRequest).where(PaymentRequest.customer_id == customer.id))
        return (db.session.scalar(select(Card.status).where(Card.customer_id == customer.id)), payment.status,
                payment.decline_reason, db.session.scalar(select(func.count()).select_from(LedgerEntry)))
    assert in_app_db(live, bank_side) == ("blocked", "declined", "card_blocked", entries_before)
    wait_for(lambda: laptop.order_status(order_id)["payment"]["status"] == "declined", message="the laptop hears it")


def test_double_clicking_pay_now_makes_one_order_and_one_payment(live, laptop, customer_factory):
    """Attack 8, from the laptop's browser at the review step: two presses at once, one order, one payment request."""
    from app.bank.models import PaymentRequest
    from app.extensions import db
    from app.shop.models import Order
    from sqlalchemy import func, select

    from ..support import Shopper, in_app_db

    card = customer_factory()[3]
    shopper = Shopper.signed_in(live)  # cart, delivery and address done; the browser takes over at the review
    shopper.fill_cart("headlamp")
    shopper.post_form("/shop/checkout/", {})
    shopper.post_form("/shop/checkout/delivery", {"method": "standard"})
    shopper.post_form("/shop/checkout/address", {
        "full_name": "Lerato Dlamini", "phone": "082 123 4567", "street": "12 Long Street", "suburb": "City Centre",
        "city": "Cape Town", "province": "Western Cape", "postal_code": "8001"})
    laptop.context.add_cookies([{"name": c.name, "value": c.value, "url": live.url} for c in shopper.http.cookies])

    def counts():
        return (db.session.scalar(select(func.count()).select_from(Order)),
                db.session.scalar(select(func.count()).select_from(PaymentRequest)))
    orders_before, requests_before = in_app_db(live, counts)

    laptop.goto(f"{live.url}/lab/")
    double = laptop.locator('[data-attack="double-pay"]')
    double.get_by_label("Your card number").fill(card)
    double.get_by_role("button", name="Try it").click()
    expect(double.get_by_test_id("verdict")).to_contain_text("Two presses, one order", timeout=30000)
    expect(double.get_by_test_id("attempt")).to_have_count(2)
    assert in_app_db(live, counts) == (orders_before + 1, requests_before + 1)

    again = double.get_by_role("button", name="Try it")
    again.click()  # the checkout is over: the review page is gone, and the lab says what to do
    expect(double.get_by_test_id("needs")).to_contain_text("go on to the review page")

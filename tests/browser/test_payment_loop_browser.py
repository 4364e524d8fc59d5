"""A learner's whole loop in real Chromium: the laptop checks out, the phone approves, the laptop sees it live."""
import re

from playwright.sync_api import expect

from ..support import new_identity, wait_for

NO_RELOAD_MARK = "window.__paylabSamePage = true"


def sign_in_at_paylab_id(laptop, email, password, consent=True):
    """On the provider's pages: sign in and (the first time) allow the shop."""
    expect(laptop.get_by_role("heading", name="Sign in")).to_be_visible()
    assert "/idp/signin" in laptop.url
    laptop.get_by_label("Email").fill(email)
    laptop.get_by_label("Password").fill(password)
    laptop.get_by_role("button", name="Sign in").click()
    if consent:
        expect(laptop.get_by_test_id("client-name")).to_have_text("Veldt Market")
        laptop.get_by_role("button", name="Allow").click()


def add_to_cart_and_check_out(laptop, live, card_number, identity=None):
    """Catalogue → cart (edit it) → sign in → confirm → delivery → address → review → Pay now.
    Returns the binding code. Without an `identity` a new PayLab ID is made and used."""
    laptop.goto(f"{live.url}/shop/")
    expect(laptop.locator(".product-card")).to_have_count(12)
    laptop.locator("[data-testid=product-headlamp] button").click()
    expect(laptop.get_by_role("heading", name="Your cart")).to_be_visible()
    laptop.goto(f"{live.url}/shop/products/succulent-pot")
    laptop.get_by_label("Quantity").fill("1")
    laptop.get_by_role("button", name="Add to cart").click()
    laptop.get_by_label("Quantity of Rechargeable Headlamp").fill("2")
    laptop.locator("[data-testid=cart-line-headlamp]").get_by_role("button", name="Update").click()
    expect(laptop.get_by_test_id("cart-subtotal")).to_have_text("R 917.00")
    laptop.get_by_role("button", name="Remove Succulent in a Terracotta Pot").click()
    expect(laptop.get_by_test_id("cart-subtotal")).to_have_text("R 798.00")
    expect(laptop.get_by_test_id("cart-count")).to_have_text("2")

    laptop.get_by_role("link", name="Check out").click()
    if identity is not False:  # False: already signed in
        expect(laptop.get_by_role("heading", name="Sign in to Veldt Market")).to_be_visible()
        laptop.get_by_test_id("signin-paylab").click()
        email, password = identity or new_identity(live.app)
        sign_in_at_paylab_id(laptop, email, password)
    expect(laptop.get_by_role("heading", name="Confirm your order")).to_be_visible()
    expect(laptop.get_by_test_id("cart-count")).to_have_text("2")  # the cart survived the sign-in
    laptop.get_by_role("button", name="Continue to delivery").click()

    laptop.get_by_text("Express courier").click()
    laptop.get_by_role("button", name="Continue to address").click()
    expect(laptop.get_by_test_id("delivery-fee")).to_have_text("R 149.00")

    laptop.get_by_role("button", name="Review your order").click()  # empty: every field explains itself
    expect(laptop.get_by_text("Enter the street address.")).to_be_visible()
    laptop.get_by_label("Full name").fill("Lerato Dlamini")
    laptop.get_by_label("Mobile number").fill("082 123 4567")
    laptop.get_by_label("Street address").fill("12 Long Street")
    laptop.get_by_label("City or town").fill("Cape Town")
    laptop.get_by_label("Province").select_option("Western Cape")
    laptop.get_by_label("Postal code").fill("80011")
    laptop.get_by_role("button", name="Review your order").click()
    expect(laptop.get_by_text("A South African postal code has 4 digits")).to_be_visible()
    laptop.get_by_label("Postal code").fill("8001")
    laptop.get_by_role("button", name="Review your order").click()

    expect(laptop.get_by_test_id("order-total")).to_have_text("R 947.00")
    laptop.get_by_label("Card number").fill(card_number[:-1] + str((int(card_number[-1]) + 1) % 10))
    laptop.get_by_role("button", name=re.compile("Pay now")).click()
    expect(laptop.locator(".field-error")).to_contain_text("check digit")
    laptop.get_by_label("Card number").fill(" ".join(re.findall("....", card_number)))
    laptop.get_by_role("button", name=re.compile("Pay now")).click()

    expect(laptop.get_by_test_id("status-message")).to_have_text("Approve the payment in your banking app.")
    code = laptop.get_by_test_id("binding-code").inner_text()
    assert re.fullmatch(r"\d{4}", code)
    expect(laptop.locator("[data-countdown]")).to_have_text(re.compile(r"^[12]:\d\d$"))
    laptop.evaluate(NO_RELOAD_MARK)
    return code


def watch_status_changes(laptop):
    """Record when the status message changes, in the page's own clock (same machine as the phone)."""
    laptop.evaluate("""() => {
        const el = document.querySelector('[data-testid=status-message]');
        window.__statusChanges = [];
        new MutationObserver(() => window.__statusChanges.push([Date.now(), el.textContent]))
            .observe(el, {childList: true, characterData: true, subtree: true});
    }""")


def register_this_phone(phone, live, pin):
    """Devices → PIN → "Use this phone for approvals": the browser becomes a possession factor."""
    back = phone.url
    phone.goto(f"{live.url}/bank/app/devices")
    phone.locator("[data-pin]").fill(pin)
    phone.get_by_test_id("register-device").click()
    expect(phone.get_by_test_id("this-device")).to_be_visible()
    phone.goto(back)


def log_in_to_bank(phone, live, username, password, pin=None):
    """Log in to the bank app (a wrong password first); with `pin`, also register this phone."""
    phone.goto(f"{live.url}/bank/app/")
    expect(phone.get_by_role("heading", name="Log in")).to_be_visible()
    phone.get_by_label("Username").fill(username)
    phone.get_by_label("Password").fill("wrong-password")
    phone.get_by_role("button", name="Log in").click()
    expect(phone.get_by_role("alert")).to_have_text("That username and password do not match an account.")
    phone.get_by_label("Username").fill(username)
    phone.get_by_label("Password").fill(password)
    phone.get_by_role("button", name="Log in").click()
    expect(phone.get_by_test_id("balance")).to_be_visible()
    if pin is not None:
        register_this_phone(phone, live, pin)
    expect(phone.locator("[data-live].on")).to_be_visible()  # the socket is connected


def test_approve_on_phone_turns_laptop_order_paid_without_reload(live, laptop, phone, customer_factory, screenshots):
    username, password, pin, card = customer_factory(balance=500000)
    log_in_to_bank(phone, live, username, password, pin)
    expect(phone.get_by_test_id("card-number")).to_have_text(" ".join(re.findall("....", card)))
    phone.evaluate(NO_RELOAD_MARK)

    code = add_to_cart_and_check_out(laptop, live, card)
    laptop.screenshot(path=screenshots / "shop-waiting-for-approval.png")

    # The request arrives in the bank app live, with no reload.
    item = phone.get_by_test_id("approval-item")
    expect(item).to_contain_text("Veldt Market")
    expect(item).to_contain_text(f"Code {code}")
    assert phone.evaluate("window.__paylabSamePage") is True
    item.click()
    expect(phone.get_by_test_id("binding-code")).to_have_text(code)
    expect(phone.get_by_test_id("amount")).to_have_text("R 947.00")
    phone.screenshot(path=screenshots / "bank-approval-screen.png")

    # Both pages hear the servers over a real WebSocket (upgraded from the first long-poll).
    for page, socket in ((laptop, "paylabShopSocket"), (phone, "paylabBankSocket")):
        wait_for(lambda: page.evaluate(f"window.{socket}?.io?.engine?.transport?.name") == "websocket",
                 message=f"{socket} upgraded to WebSocket")

    watch_status_changes(laptop)
    phone.get_by_label("PIN").fill("0000" if pin != "0000" else "1111")
    phone.get_by_test_id("approve").click()
    expect(phone.get_by_role("alert")).to_have_text("Wrong PIN. 4 tries left before the card locks.")
    phone.get_by_label("PIN").fill(pin)
    clicked_at = phone.evaluate("Date.now()")
    phone.get_by_test_id("approve").click()

    expect(laptop.get_by_test_id("status-message")).to_have_text(
        "Payment approved. Thank you! Your order is on its way.")
    assert laptop.evaluate("window.__paylabSamePage") is True, "the laptop page reloaded"
    changed_at = laptop.evaluate("window.__statusChanges.find(c => c[1].startsWith('Payment approved'))[0]")
    print(f"\napprove click -> laptop update: {changed_at - clicked_at} ms")
    expect(laptop.locator("[data-step=final]")).to_have_class(re.compile("ok"))
    expect(phone.get_by_test_id("result")).to_contain_text("Approved. R 947.00 was paid to Veldt Market.")
    laptop.screenshot(path=screenshots / "shop-payment-approved.png")
    phone.screenshot(path=screenshots / "bank-approved.png")

    # The money moved: the bank app's account page reads it from the ledger.
    phone.get_by_role("link", name="Account").click()
    expect(phone.get_by_test_id("balance")).to_have_text("R 4 053.00")
    expect(phone.get_by_test_id("transactions")).to_contain_text("Veldt Market · order-")
    expect(phone.get_by_test_id("transactions")).to_contain_text("-R 947.00")

    # And the shop's order history shows it paid.
    laptop.get_by_role("link", name="My orders").click()
    expect(laptop.locator(".orders-table tbody tr").first).to_contain_text("paid")


def test_decline_on_phone_shows_on_laptop_and_retry_is_offered(live, laptop, phone, customer_factory, screenshots):
    username, password, pin, card = customer_factory()
    code = add_to_cart_and_check_out(laptop, live, card)
    log_in_to_bank(phone, live, username, password)
    phone.get_by_test_id("approval-item").click()
    expect(phone.get_by_test_id("binding-code")).to_have_text(code)
    phone.get_by_test_id("decline").click()
    expect(phone.get_by_test_id("result")).to_contain_text("Declined. You declined it.")

    expect(laptop.get_by_test_id("status-message")).to_have_text(
        "The payment was declined. You declined it in your banking app.")
    assert laptop.evaluate("window.__paylabSamePage") is True, "the laptop page reloaded"
    expect(laptop.locator("[data-step=final]")).to_have_class(re.compile("bad"))
    expect(laptop.get_by_test_id("retry-payment")).to_be_visible()
    laptop.screenshot(path=screenshots / "shop-payment-declined.png")


def test_socket_drop_falls_back_to_polling_and_catches_up(live, laptop, phone, customer_factory):
    username, password, pin, card = customer_factory()
    add_to_cart_and_check_out(laptop, live, card)
    wait_for(lambda: laptop.evaluate("window.paylabShopSocket && window.paylabShopSocket.connected"),
             message="shop socket connected")
    laptop.evaluate("window.paylabShopSocket.io.opts.reconnection = false; window.paylabShopSocket.disconnect()")
    expect(laptop.locator("[data-connection]")).to_be_visible()

    log_in_to_bank(phone, live, username, password, pin)
    phone.get_by_test_id("approval-item").click()
    phone.get_by_label("PIN").fill(pin)
    phone.get_by_test_id("approve").click()
    expect(laptop.get_by_test_id("status-message")).to_have_text(
        "Payment approved. Thank you! Your order is on its way.")
    assert laptop.evaluate("window.__paylabSamePage") is True

    laptop.evaluate("window.paylabShopSocket.connect()")
    expect(laptop.locator("[data-connection]")).to_be_hidden()


def test_cancel_from_the_order_page(live, laptop, phone, customer_factory):
    username, password, pin, card = customer_factory()
    add_to_cart_and_check_out(laptop, live, card)
    laptop.get_by_test_id("cancel-payment").click()
    expect(laptop.get_by_test_id("status-message")).to_have_text("You cancelled this payment. Nothing was charged.")
    log_in_to_bank(phone, live, username, password)
    expect(phone.get_by_test_id("approval-item")).to_have_count(0)
    expect(phone.get_by_text("Nothing to approve.")).to_be_visible()


def test_every_live_page_connects_websocket_first(live, laptop, phone, customer_factory):
    """The order page, the bank app and the walkthrough open a WebSocket at once, never long-polling
    first: polling's many requests may each reach another process of a classroom's deployment, and fail
    there, where one WebSocket stays with the process it reached."""
    polling = []

    def note_polling(request):
        if "/socket.io/" in request.url and "transport=polling" in request.url:
            polling.append(request.url)
    laptop.on("request", note_polling)
    phone.on("request", note_polling)
    username, password, pin, card = customer_factory()
    add_to_cart_and_check_out(laptop, live, card)
    log_in_to_bank(phone, live, username, password, pin)
    for page, socket in ((laptop, "paylabShopSocket"), (phone, "paylabBankSocket")):
        wait_for(lambda: page.evaluate(f"window.{socket} && window.{socket}.connected"), message=f"{socket} connected")
        assert page.evaluate(f"window.{socket}.io.engine.transport.name") == "websocket"
    laptop.goto(live.url + "/walkthrough/")
    wait_for(lambda: laptop.evaluate("window.paylabWalkthroughSocket && window.paylabWalkthroughSocket.connected"),
             message="walkthrough socket connected")
    assert laptop.evaluate("window.paylabWalkthroughSocket.io.engine.transport.name") == "websocket"
    assert polling == []

"""In real Chromium, every page passes its Content-Security-Policy, an injected script does not run, the sign-in
still works through its redirect chain, and no other site can frame the approval screen (issue #8, point 7).

Each page is opened on a laptop (1366×768) and on a phone (Pixel 7). A listener, installed before any page
script, records every `securitypolicyviolation`; the console is watched for the browser's own refusals.
Under this policy Playwright's wait_for_function needs a function ("() => …"): a bare expression is polled
with eval, which script-src 'self' refuses.
"""
import base64
import hashlib
import re
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from ..support import Shopper, free_port, new_identity
from .test_payment_loop_browser import sign_in_at_paylab_id

RECORD_VIOLATIONS = """
window.__cspViolations = [];
window.addEventListener("securitypolicyviolation", (event) => window.__cspViolations.push(
  `${event.effectiveDirective} refused ${event.blockedURI || "inline code"} in ${event.sourceFile}:${event.lineNumber}`), true);
"""
# What an attacker who slipped markup into a page would try: an inline script, and an inline handler.
INJECT_SCRIPT = """() => {
  const script = document.createElement("script");
  script.textContent = "window.__injectedRan = true";
  document.body.append(script);
  const img = document.createElement("img");
  img.setAttribute("onerror", "window.__injectedRan = true");
  img.src = "/nothing-here.png";
  document.body.append(img);
}"""


@pytest.fixture(params=["laptop", "phone"])
def screen(request):
    """The same checks at a laptop's size and at a phone's (the bank app is made for the phone)."""
    page = request.getfixturevalue(request.param)
    page.context.add_init_script(RECORD_VIOLATIONS)
    page.policy_errors = []
    page.on("console", lambda message: page.policy_errors.append(message.text)
            if message.type == "error" and re.search("Content.Security.Policy|Permissions.Policy", message.text)
            else None)
    return page


def assert_page_passes_its_policy(page, name):
    """No violation so far, in the page or its console; then an injected script and handler must not run."""
    page.wait_for_load_state("load")
    assert page.evaluate("window.__cspViolations") == [], name
    assert page.policy_errors == [], name
    policy = page.evaluate("() => fetch(location.href).then((r) => r.headers.get('content-security-policy'))")
    assert policy and "script-src 'self'" in policy, f"{name}: no policy in force"
    page.evaluate(INJECT_SCRIPT)
    page.wait_for_function("() => window.__cspViolations.length >= 2")
    page.wait_for_timeout(100)  # an onerror that was allowed would have run by now
    assert page.evaluate("window.__injectedRan") is None, f"{name}: injected script ran"
    assert {v.split()[0] for v in page.evaluate("window.__cspViolations")} == {"script-src-elem", "script-src-attr"}
    page.evaluate("window.__cspViolations = []")
    page.policy_errors.clear()


def share_cookies(shopper, page, live):
    """The browser continues as the shopper whose sign-in and checkout ran over plain HTTP (faster)."""
    page.context.add_cookies([{"name": c.name, "value": c.value, "url": live.url} for c in shopper.http.cookies])


def test_every_page_passes_its_policy_and_keeps_working(live, screen, customer_factory):
    username, password, pin, card = customer_factory()
    shopper = Shopper.signed_in(live)
    shopper.fill_cart()
    order_id, _ = shopper.checkout(card)
    shopper.fill_cart("coffee-beans")
    share_cookies(shopper, screen, live)

    screen.goto(f"{live.url}/shop/")
    expect(screen.locator(".product-card")).to_have_count(12)
    assert_page_passes_its_policy(screen, "shop catalogue")
    screen.goto(f"{live.url}/shop/cart")
    expect(screen.get_by_role("heading", name="Your cart")).to_be_visible()
    assert_page_passes_its_policy(screen, "cart")

    with screen.expect_websocket(lambda ws: "/socket.io/" in ws.url):
        screen.goto(f"{live.url}/shop/orders/{order_id}")
    expect(screen.get_by_test_id("status-message")).to_have_text("Approve the payment in your banking app.")
    expect(screen.locator("[data-countdown]")).to_have_text(re.compile(r"^\d:\d\d$"))  # its module ran
    expect(screen.locator("[data-testid=bank-app-qr] svg")).to_be_visible()
    assert_page_passes_its_policy(screen, "order page")

    screen.goto(f"{live.url}/walkthrough/")
    expect(screen.locator("[data-diagram] svg .arrow").first).to_be_visible()  # drawn by its module
    assert_page_passes_its_policy(screen, "walkthrough")

    screen.goto(f"{live.url}/idp/signin")
    expect(screen.get_by_role("heading", name="Sign in")).to_be_visible()
    assert_page_passes_its_policy(screen, "PayLab ID sign-in")

    screen.goto(f"{live.url}/bank/app/login")
    screen.get_by_label("Username").fill(username)
    screen.get_by_label("Password").fill(password)
    with screen.expect_websocket(lambda ws: "/socket.io/" in ws.url):
        screen.get_by_role("button", name="Log in").click()
    expect(screen.locator("[data-live].on")).to_be_visible()  # the socket connected under connect-src
    screen.wait_for_function("() => navigator.serviceWorker.controller?.state === 'activated'")  # worker-src, the SW's CSP
    assert_page_passes_its_policy(screen, "bank app home")

    screen.goto(f"{live.url}/bank/app/devices")
    screen.locator("[data-pin]").fill(pin)
    screen.get_by_test_id("register-device").click()  # the moved module handles the tap
    expect(screen.get_by_test_id("this-device")).to_be_visible()
    assert_page_passes_its_policy(screen, "devices")

    screen.goto(f"{live.url}/bank/app/")
    screen.get_by_test_id("approval-item").first.click()
    expect(screen.get_by_test_id("merchant")).to_have_text("Veldt Market")
    expect(screen.locator("[data-countdown]")).to_have_text(re.compile(r"^\d:\d\d$"))
    assert_page_passes_its_policy(screen, "approval")

    screen.goto(f"{live.url}/bank/app/diagnostics")
    screen.wait_for_function("() => window.paylabBankSocket?.connected")
    screen.get_by_role("button", name="Check again").click()  # the first run may beat the socket's connection
    expect(screen.get_by_test_id("diagnostics")).to_have_attribute("data-done", "true")
    expect(screen.get_by_test_id("check-socket").locator("[data-state]")).to_have_text("OK")
    expect(screen.get_by_test_id("check-worker").locator("[data-state]")).to_have_text("OK")
    assert_page_passes_its_policy(screen, "diagnostics")

    screen.goto(f"{live.url}/bank/app/offline")
    screen.get_by_test_id("offline-retry").click()  # "Try again" without an inline handler
    expect(screen.get_by_test_id("offline-shell")).to_be_visible()
    assert_page_passes_its_policy(screen, "offline shell")


def test_sign_in_with_paylab_id_passes_form_action_through_its_redirects(live, screen):
    """Consent posts to /idp/authorize, which redirects to the shop: Chrome checks form-action on each hop."""
    screen.goto(f"{live.url}/shop/signin")
    screen.get_by_test_id("signin-paylab").click()
    sign_in_at_paylab_id(screen, *new_identity(live.app))
    expect(screen.get_by_test_id("signed-in-as")).to_have_text("Lerato Dlamini")
    assert screen.evaluate("window.__cspViolations") == [] and screen.policy_errors == []


def test_an_app_on_another_origin_can_still_use_paylab_id(live, screen):
    """A client registered with `flask idp create-client` gets its code although its origin is not ours."""
    from app.extensions import db
    from app.idp import services as idp
    client_origin = f"http://127.0.0.1:{live.port}"  # another origin than http://localhost:PORT
    redirect_uri = f"{client_origin}/shop/"
    with live.app.app_context():
        client, _ = idp.create_client("Another App", [redirect_uri])
        client_id = client.client_id
        db.session.remove()
    verifier = "v" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    screen.goto(f"{live.url}/idp/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": "openid email",
        "state": "s-1", "nonce": "n-1", "code_challenge": challenge, "code_challenge_method": "S256"}))
    email, password = new_identity(live.app)
    screen.get_by_label("Email").fill(email)
    screen.get_by_label("Password").fill(password)
    screen.get_by_role("button", name="Sign in").click()
    expect(screen.get_by_test_id("client-name")).to_have_text("Another App")
    screen.get_by_role("button", name="Allow").click()
    screen.wait_for_url(re.compile(re.escape(redirect_uri) + r"\?code=.+&state=s-1"))
    assert screen.policy_errors == []


def test_another_site_cannot_frame_the_approval_screen(live, laptop, customer_factory):
    """Clickjacking: a page the attacker controls frames the approval and lures the tap onto Approve.
    The attacker's page is same-site (localhost, another port), so the bank's SameSite=Lax cookie would
    go along: only frame-ancestors and X-Frame-Options stand between the frame and the approval."""
    username, password, pin, card = customer_factory()
    shopper = Shopper.signed_in(live)
    shopper.fill_cart()
    shopper.checkout(card)
    laptop.goto(f"{live.url}/bank/app/login")
    laptop.get_by_label("Username").fill(username)
    laptop.get_by_label("Password").fill(password)
    laptop.get_by_role("button", name="Log in").click()
    laptop.get_by_test_id("approval-item").first.click()
    expect(laptop.get_by_test_id("merchant")).to_have_text("Veldt Market")
    approval_url = laptop.url

    refusals = []
    laptop.on("console", lambda message: refusals.append(message.text) if "frame" in message.text else None)
    attacker = f"http://localhost:{free_port()}/win-a-prize"
    laptop.route(attacker, lambda route: route.fulfill(content_type="text/html", body=(
        f'<h1>Tap the button to win</h1><iframe src="{approval_url}" width="400" height="800"></iframe>')))
    laptop.goto(attacker)
    frame = laptop.frame_locator("iframe")
    laptop.wait_for_timeout(500)  # give the frame its chance to load
    expect(frame.get_by_test_id("approve")).to_have_count(0)
    expect(frame.get_by_test_id("merchant")).to_have_count(0)
    assert any("frame-ancestors" in text or "X-Frame-Options" in text for text in refusals), refusals

"""The installable bank app on a phone: service worker, push through CDP, notification click,
approval, offline shell, diagnostics. Recipes from ../shared/BROWSER-TESTING.md."""
import json
import re

from playwright.sync_api import expect

from ..support import LiveServer, wait_for
from .conftest import CHROMIUM_ARGS, TIMEOUT_MS, chromium_path
from .test_payment_loop_browser import add_to_cart_and_check_out, log_in_to_bank

# A function, not a bare expression: Playwright evaluates a bare one with eval(), which the CSP forbids.
SW_READY = "() => navigator.serviceWorker.controller && navigator.serviceWorker.controller.state === 'activated'"

# pushManager.subscribe() cannot succeed without Google's push service, so the page gets a subscription
# the test made at its own push service. Everything after it (the bank, the encryption, the push
# service, the worker) is real; the push's second half is delivered through CDP.
FAKE_SUBSCRIBE = """
(() => {
  const sub = %s;
  const fake = {endpoint: sub.endpoint, expirationTime: null, options: {userVisibleOnly: true},
                toJSON: () => sub, getKey: () => null, unsubscribe: async () => true};
  PushManager.prototype.subscribe = async function (options) {
    localStorage.setItem("testSubscribed", "1");
    localStorage.setItem("testSubscribeKey", options.applicationServerKey);
    return fake;
  };
  PushManager.prototype.getSubscription = async function () {
    return localStorage.getItem("testSubscribed") ? fake : null;
  };
})();
"""


class PhoneWithWorker:
    """A phone page with a CDP session that knows its service worker registration."""

    def __init__(self, context, page, origin):
        self.context, self.page, self.origin = context, page, origin
        self.registrations = []
        self.cdp = context.new_cdp_session(page)
        self.cdp.on("ServiceWorker.workerRegistrationUpdated",
                    lambda event: self.registrations.extend(event["registrations"]))
        self.cdp.send("ServiceWorker.enable")

    def registration_id(self):
        found = wait_for(lambda: [r for r in self.registrations if r["scopeURL"].endswith("/bank/app/")],
                         message="the service worker registration")
        return found[0]["registrationId"]

    def deliver(self, payload):
        self.cdp.send("ServiceWorker.deliverPushMessage", {
            "origin": self.origin, "registrationId": self.registration_id(), "data": json.dumps(payload)})

    def notifications(self):
        return self.page.evaluate("""async () => {
            const reg = await navigator.serviceWorker.getRegistration('/bank/app/');
            return (await reg.getNotifications()).map(n => ({title: n.title, body: n.body, tag: n.tag, url: n.data.url}));
        }""")


def test_phone_gets_the_push_taps_it_and_approves_and_the_laptop_updates(
        live, browser, playwright_instance, laptop, push_service, customer_factory, screenshots):
    username, password, pin, card = customer_factory()
    context = browser.new_context(**playwright_instance.devices["Pixel 7"], locale="en-ZA")
    context.set_default_timeout(TIMEOUT_MS)
    context.grant_permissions(["notifications"], origin=live.url)
    subscription = push_service.subscribe()
    context.add_init_script(FAKE_SUBSCRIBE % json.dumps(subscription))
    page = context.new_page()
    phone = PhoneWithWorker(context, page, live.url)
    try:
        log_in_to_bank(page, live, username, password)
        page.wait_for_function(SW_READY)
        assert page.evaluate("navigator.serviceWorker.getRegistration('/bank/app/').then(r => r.scope)") == \
            f"{live.url}/bank/app/"

        # Enable notifications: a user gesture, the bank's VAPID key, the device registered at the bank.
        page.get_by_role("link", name="Devices").click()
        expect(page.get_by_test_id("not-a-device")).to_be_visible()
        page.locator("[data-pin]").fill(pin)
        page.get_by_test_id("enable-notifications").click()
        expect(page.get_by_test_id("this-device")).to_be_visible()
        expect(page.get_by_test_id("device-list")).to_contain_text("Chrome on Android")
        key = page.evaluate("fetch('/bank/app/api/push/key').then(r => r.json()).then(b => b.public_key)")
        assert page.evaluate("localStorage.getItem('testSubscribeKey')") == key
        expect(page.get_by_test_id("app-qr").locator("svg")).to_be_visible()

        # "Send me a test notification" crosses the whole path.
        page.get_by_test_id("test-notification").click()
        expect(page.get_by_role("status")).to_contain_text("Test sent to 1 device")
        [test_message] = wait_for(lambda: push_service.messages_for(subscription), message="the test push")
        phone.deliver(test_message["payload"])
        wait_for(lambda: any(n["body"].startswith("Test notification") for n in phone.notifications()),
                 message="the test notification shown")

        # A real payment: the bank pushes, the phone shows the binding code.
        page.goto(f"{live.url}/bank/app/devices")
        page.evaluate("window.__samePhonePage = true")
        code = add_to_cart_and_check_out(laptop, live, card)
        expect(laptop.get_by_test_id("bank-app-qr").locator("svg")).to_be_visible()
        payment = wait_for(lambda: [m for m in push_service.messages_for(subscription)
                                    if m["payload"]["type"] == "payment_request"], message="the payment push")[0]
        assert payment["payload"]["binding_code"] == code
        phone.deliver(payment["payload"])
        shown = wait_for(lambda: [n for n in phone.notifications() if n["tag"] == payment["payload"]["id"]],
                         message="the payment notification")[0]
        assert code in shown["body"] and shown["title"] == "Approve R 947.00 at Veldt Market?"
        # The worker told the bank it arrived: the walkthrough draws push service → phone in this journey.
        journey = payment["payload"]["journey"]
        wait_for(lambda: any(m["kind"] == "push" and (m["from"], m["to"]) == ("push", "phone") for m in laptop.evaluate(
            f"fetch('/walkthrough/api/journeys/{journey}').then(r => r.json()).then(b => b.messages)")),
            message="the push receipt in the walkthrough")
        page.screenshot(path=screenshots / "phone-notification-arrived.png")

        # Tap it: the worker brings the app to the approval screen.
        context.service_workers[0].evaluate("""async () => {
            const [notification] = await self.registration.getNotifications({tag: '%s'});
            const pending = [];
            const event = new NotificationEvent('notificationclick', {notification});
            Object.defineProperty(event, 'waitUntil', {value: (p) => pending.push(p)});
            self.dispatchEvent(event);
            await Promise.allSettled(pending);
        }""" % payment["payload"]["id"])
        expect(page).to_have_url(payment["payload"]["url"])
        expect(page.get_by_test_id("binding-code")).to_have_text(code)
        page.screenshot(path=screenshots / "phone-approval-from-notification.png")

        page.get_by_label("PIN").fill(pin)
        page.get_by_test_id("approve").click()
        expect(laptop.get_by_test_id("status-message")).to_have_text(
            "Payment approved. Thank you! Your order is on its way.")
        assert laptop.evaluate("window.__paylabSamePage") is True

        # Diagnostics: every link of the chain is green.
        page.goto(f"{live.url}/bank/app/diagnostics")
        expect(page.get_by_test_id("diagnostics")).to_have_attribute("data-done", "true")
        for check in ("secure", "worker", "permission", "subscribed", "installed", "socket", "push"):
            expect(page.get_by_test_id(f"check-{check}")).to_have_class(re.compile(r"\bok\b"))
        page.screenshot(path=screenshots / "phone-diagnostics.png", full_page=True)

        # The worker cached the shell, never an API answer.
        cached = page.evaluate("""async () => {
            const urls = [];
            for (const name of await caches.keys()) {
                for (const request of await (await caches.open(name)).keys()) urls.push(new URL(request.url).pathname);
            }
            return urls;
        }""")
        assert "/bank/app/offline" in cached
        assert not [url for url in cached if url.startswith(("/bank/app/api/", "/socket.io/"))]

        # A device can be removed from the Devices screen.
        page.goto(f"{live.url}/bank/app/devices")
        page.get_by_role("button", name="Remove Chrome on Android").click()
        expect(page.get_by_test_id("device-list").locator("li")).to_have_count(0)
        assert page.evaluate("fetch('/bank/app/api/devices').then(r => r.json()).then(b => b.devices.length)") == 0
    finally:
        context.close()


def test_the_app_is_installable(live, playwright_instance, tmp_path):
    context = playwright_instance.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=chromium_path(), args=CHROMIUM_ARGS)
    try:
        page = context.new_page()
        page.goto(f"{live.url}/bank/app/login")
        page.wait_for_function(SW_READY)
        cdp = context.new_cdp_session(page)
        assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
        manifest = page.evaluate("fetch('/bank/app/manifest.webmanifest').then(r => r.json())")
        assert manifest["display"] == "standalone" and manifest["scope"] == "/bank/app/"
        assert {i["purpose"] for i in manifest["icons"]} == {"any", "maskable"}
        assert page.locator('link[rel="apple-touch-icon"]').count() == 1
    finally:
        context.close()


def test_the_offline_shell_loads_with_the_server_stopped(tmp_path, browser, playwright_instance):
    server = LiveServer(tmp_path / "instance").start()
    context = browser.new_context(**playwright_instance.devices["Pixel 7"])
    try:
        page = context.new_page()
        page.goto(f"{server.url}/bank/app/login")
        page.wait_for_function(SW_READY)
        server.stop()
        page.goto(f"{server.url}/bank/app/")
        expect(page.get_by_test_id("offline-shell")).to_contain_text("You're offline")
        expect(page.locator("link[rel=stylesheet]")).to_have_count(1)
        assert page.evaluate("getComputedStyle(document.querySelector('.appbar')).backgroundColor") == "rgb(15, 61, 46)"
    finally:
        context.close()


def test_an_iphone_outside_the_home_screen_is_shown_how_to_install(live, browser, playwright_instance,
                                                                    customer_factory):
    username, password, pin, card = customer_factory()
    context = browser.new_context(**playwright_instance.devices["iPhone 13"])
    try:
        page = context.new_page()
        log_in_to_bank(page, live, username, password)
        page.get_by_role("link", name="Devices").click()
        expect(page.get_by_test_id("ios-install")).to_be_visible()
        expect(page.get_by_test_id("ios-install")).to_contain_text("Add to Home Screen")
    finally:
        context.close()


def test_the_phone_setup_guide(live, laptop):
    laptop.goto(f"{live.url}/bank/app/setup")
    guide = laptop.get_by_test_id("setup-guide")
    for words in ("Why HTTPS?", "cloudflared", "Tailscale Funnel", "ngrok", "Android", "iPhone", "Nothing arrives?"):
        expect(guide).to_contain_text(words)


# A browser whose push service can drop or rotate the subscription, as iOS and some Android builds do
# without firing pushsubscriptionchange. `subscribe()` hands out the test's subscriptions in order.
DROPPING_PUSH_SERVICE = """
(() => {
  const handedOut = %s;
  const wrap = (sub) => ({endpoint: sub.endpoint, expirationTime: null, options: {userVisibleOnly: true},
    toJSON: () => sub, getKey: () => null,
    unsubscribe: async () => { localStorage.removeItem("testSubscription"); return true; }});
  PushManager.prototype.subscribe = async function () {
    const used = Number(localStorage.getItem("testSubscribeCount") || 0);
    localStorage.setItem("testSubscribeCount", String(used + 1));
    localStorage.setItem("testSubscription", JSON.stringify(handedOut[used]));
    return wrap(handedOut[used]);
  };
  PushManager.prototype.getSubscription = async function () {
    const held = localStorage.getItem("testSubscription");
    return held ? wrap(JSON.parse(held)) : null;
  };
})();
"""


def test_each_open_keeps_the_push_subscription_in_step_and_every_push_shows(
        live, browser, playwright_instance, push_service, customer_factory, screenshots):
    username, password, pin, card = customer_factory()
    first, renewed, rotated = push_service.subscribe(), push_service.subscribe(), push_service.subscribe()
    context = browser.new_context(**playwright_instance.devices["Pixel 7"], locale="en-ZA")
    context.set_default_timeout(TIMEOUT_MS)
    context.grant_permissions(["notifications"], origin=live.url)
    context.add_init_script(DROPPING_PUSH_SERVICE % json.dumps([first, renewed]))
    page = context.new_page()
    phone = PhoneWithWorker(context, page, live.url)
    kept_at_bank = "() => fetch('/bank/app/api/devices/this').then(r => r.json()).then(b => b.endpoint)"

    def open_the_app():
        """A new launch of the app (a new session), then the outcome of its check."""
        page.evaluate("sessionStorage.clear()")
        page.goto(f"{live.url}/bank/app/")
        page.wait_for_function("() => window.paylabPushCheck")
        return page.evaluate("() => window.paylabPushCheck")

    try:
        log_in_to_bank(page, live, username, password)
        page.wait_for_function(SW_READY)
        page.get_by_role("link", name="Devices").click()
        page.locator("[data-pin]").fill(pin)
        page.get_by_test_id("enable-notifications").click()
        expect(page.get_by_test_id("this-device")).to_be_visible()
        assert page.evaluate(kept_at_bank) == first["endpoint"]

        writes = []
        page.on("request", lambda request: writes.append(request.url) if request.method == "PUT" else None)
        assert open_the_app()["state"] == "in-step"
        assert writes == []  # nothing changed, nothing sent

        # The browser rotated its subscription without telling the service worker.
        page.evaluate(f"localStorage.setItem('testSubscription', {json.dumps(json.dumps(rotated))})")
        assert open_the_app()["state"] == "re-registered"
        assert page.evaluate(kept_at_bank) == rotated["endpoint"]

        # The browser dropped it altogether: the app subscribes again, and the bank pushes there.
        page.evaluate("localStorage.removeItem('testSubscription')")
        outcome = open_the_app()
        assert outcome["state"] == "renewed" and outcome["ok"] is True
        assert page.evaluate(kept_at_bank) == renewed["endpoint"]

        page.goto(f"{live.url}/bank/app/diagnostics")
        expect(page.get_by_test_id("diagnostics")).to_have_attribute("data-done", "true")
        expect(page.get_by_test_id("check-kept")).to_have_class(re.compile(r"\bok\b"))
        expect(page.get_by_test_id("check-kept")).to_contain_text("subscribed again")
        expect(page.get_by_test_id("check-subscribed")).to_have_class(re.compile(r"\bok\b"))

        page.goto(f"{live.url}/bank/app/devices")
        page.get_by_test_id("test-notification").click()
        [test_message] = wait_for(lambda: push_service.messages_for(renewed), message="the push to the new subscription")
        assert not push_service.messages_for(rotated)
        phone.deliver(test_message["payload"])
        wait_for(lambda: any(n["body"].startswith("Test notification") for n in phone.notifications()),
                 message="the test notification shown")

        # Every push shows a notification, even one the worker cannot read (browsers revoke silent ones).
        phone.cdp.send("ServiceWorker.deliverPushMessage", {
            "origin": live.url, "registrationId": phone.registration_id(), "data": "not json {"})
        wait_for(lambda: any(n["body"] == "not json {" and n["title"] == "Baobab Bank" for n in phone.notifications()),
                 message="a notification for an unreadable push")

        # Notifications taken away and the subscription lost: Diagnostics says what to fix.
        context.clear_permissions()
        page.evaluate("localStorage.removeItem('testSubscription')")
        page.goto(f"{live.url}/bank/app/diagnostics")
        expect(page.get_by_test_id("check-kept")).to_have_class(re.compile(r"\bbad\b"))
        expect(page.get_by_test_id("check-kept")).to_contain_text("no longer allowed")
        page.get_by_test_id("check-kept").evaluate("row => row.scrollIntoView({block: 'center'})")
        page.screenshot(path=screenshots / "phone-diagnostics-subscription-lost.png")
    finally:
        context.close()

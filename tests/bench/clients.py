"""The bench's people: a learner's laptop and phone, driving PayLab over real HTTP as browsers do.

Each step is what the browser or the phone really sends: a page load (GET) before each form it
posts, the redirect after it followed, the order page's status fetch, the service worker's push
receipt, the approval screen, the PIN form or the passkey's two JSON calls. Anything unexpected
raises `LoopError`, which the bench counts as an error of the loop it happened in.
"""
import re
import threading
import time
from collections import defaultdict

from tests.pushservice import LocalPushService
from tests.support import TOKEN_PATTERN, BankCustomer, Shopper

from .authenticator import SoftwareAuthenticator

CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
ORDER_URL = re.compile(r"/shop/orders/(\d+)$")
ADDRESS = {"full_name": "Lerato Dlamini", "phone": "082 123 4567", "street": "12 Long Street", "suburb": "City Centre",
           "city": "Cape Town", "province": "Western Cape", "postal_code": "8001"}
TIMEOUT = 30  # per HTTP request: a loaded server is slow, and a slow answer is a figure, not a crash


class LoopError(Exception):
    """Something a browser would have shown as a failure: a bad status, a refused step, a missing event."""


def expect(response, what, status=200, contains=None):
    if response.status_code != status:
        raise LoopError(f"{what}: HTTP {response.status_code}, expected {status} ({response.url})")
    if contains is not None and contains not in response.text:
        raise LoopError(f"{what}: the page does not show {contains!r} ({response.url})")
    return response


class BenchPushService(LocalPushService):
    """The tests' RFC 8030 push service, plus: a delay before each answer (a slow push service, for P3),
    and a wait for the next message to a subscription (the phone's notification)."""

    def __init__(self):
        super().__init__()
        self.delay_seconds = 0.0
        self.in_flight_total, self.last_answer = 0, time.monotonic()
        self._arrived = threading.Condition()
        self._by_subscription = defaultdict(list)
        service = self

        class Messages(list):
            def append(self, message):
                super().append(message)
                with service._arrived:
                    service._by_subscription[message["sub_id"]].append(message)
                    service._arrived.notify_all()
        self.messages = Messages()

    def _receive(self, request, sub_id):
        with self._arrived:
            self.in_flight_total += 1
        try:
            if self.delay_seconds:
                time.sleep(self.delay_seconds)  # the service takes this long with every push, as a congested one does
            return super()._receive(request, sub_id)
        finally:
            with self._arrived:
                self.in_flight_total -= 1
                self.last_answer = time.monotonic()

    def wait_quiet(self, expected_messages, quiet_seconds=2.0, timeout=60.0):
        """Until `expected_messages` have arrived, or nothing is in flight and nothing came for a while."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._arrived:
                if len(self.messages) >= expected_messages:
                    return True
                if not self.in_flight_total and time.monotonic() - self.last_answer > quiet_seconds:
                    return False
            time.sleep(0.1)
        return False

    def wait_message(self, subscription, predicate, timeout, since=0.0):
        """The first message to this subscription since `since` (time.time()) whose payload matches,
        waiting up to `timeout` seconds."""
        sub_id = subscription["endpoint"].rsplit("/", 1)[1]
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for message in self._by_subscription[sub_id]:
                    if message["at"] >= since and predicate(message["payload"]):
                        return message["payload"]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LoopError(f"no push reached the phone within {timeout:.0f} s")
                self._arrived.wait(left)


def cookie_header(session, path="/socket.io/"):
    """The Cookie header a browser sends with a request to `path` (the Socket.IO endpoint)."""
    return "; ".join(f"{c.name}={c.value}" for c in session.cookies if path.startswith(c.path or "/"))


class Laptop(Shopper):
    """The learner's laptop browser: the shop's pages in order, each form posted from the page it is on."""

    def __init__(self, base_url):
        super().__init__(base_url)
        self._page = None

    def load(self, path, what):
        self._page = expect(self.http.get(self.base + path, timeout=TIMEOUT), what)
        return self._page

    def submit(self, path, data, what, lands_on):
        """POST a form with the CSRF token of the page it is on; follow the redirect as a browser does."""
        match = CSRF_FIELD.search(self._page.text)
        if not match:
            raise LoopError(f"{what}: no form on {self._page.url}")
        response = self.http.post(self.base + path, data={"csrf_token": match.group(1), **data}, timeout=TIMEOUT)
        self._page = expect(response, what)
        if not response.url.endswith(lands_on):
            raise LoopError(f"{what}: landed on {response.url}, expected …{lands_on}")
        return response

    def fill_cart_to_review(self, slug="headlamp"):
        """Catalogue → add to cart → cart → confirm → delivery → address → review, ready for Pay now."""
        self.load("/shop/", "catalogue")
        self.submit(f"/shop/cart/add/{slug}", {"quantity": 1}, "add to cart", "/shop/cart")
        self.load("/shop/checkout/", "checkout")
        self.submit("/shop/checkout/", {}, "confirm the order", "/shop/checkout/delivery")
        self.submit("/shop/checkout/delivery", {"method": "standard"}, "delivery", "/shop/checkout/address")
        self.submit("/shop/checkout/address", ADDRESS, "address", "/shop/checkout/review")

    def pay_now(self, card_number):
        """Pay now on the review page; returns (order id, seconds until the shop answered the POST).

        Then, as the browser: the order page, and its status fetch (the page does it when its socket connects).
        """
        review = self._page.text
        token, csrf = TOKEN_PATTERN.search(review), CSRF_FIELD.search(review)
        if not (token and csrf):
            raise LoopError(f"Pay now: no payment form on {self._page.url}")
        started = time.perf_counter()
        response = self.http.post(self.base + "/shop/checkout/pay", allow_redirects=False, timeout=TIMEOUT, data={
            "csrf_token": csrf.group(1), "payment_token": token.group(1), "card_number": card_number})
        answered = time.perf_counter() - started
        match = ORDER_URL.search(response.headers.get("Location", ""))
        if response.status_code not in (302, 303) or not match:
            raise LoopError(f"Pay now: HTTP {response.status_code} to {response.headers.get('Location')!r}, "
                            "expected a redirect to the order page")
        order_id = int(match.group(1))
        self.load(f"/shop/orders/{order_id}", "order page")
        status = self.get(f"/shop/api/orders/{order_id}/status")
        expect(status, "order status")
        payment = status.json().get("payment") or {}
        if payment.get("status") != "pending":
            raise LoopError(f"Pay now: the order's payment is {payment.get('status')!r}, not pending")
        return order_id, payment["binding_code"], answered

    def checkout(self, card_number, slug="headlamp"):
        self.fill_cart_to_review(slug)
        return self.pay_now(card_number)


class Phone(BankCustomer):
    """The learner's phone with the bank app installed: a registered device with push, and a passkey."""

    def __init__(self, base_url, username, password, pin, push_service):
        super().__init__(base_url, username, password, pin=pin)
        self.push_service = push_service
        self.subscription = None
        self.authenticator = None
        self._handled = set()  # payment ids this phone has already acted on

    def enrol(self, with_passkey=True):
        """Devices → PIN → Enable notifications; then Set up fingerprint (the PIN again), as a learner does."""
        self.subscription = self.push_service.subscribe()
        self.register_device(subscription=self.subscription, name="Bench phone")
        if with_passkey:
            self.authenticator = SoftwareAuthenticator(self.base)
            options = expect(self.api("POST", "/bank/app/api/passkeys/options", json={"pin": self.pin}),
                             "passkey options")
            credential = self.authenticator.create(options.json())
            expect(self.api("POST", "/bank/app/api/passkeys", json={"credential": credential,
                                                                     "name": "Bench fingerprint"}),
                   "passkey registration", status=201)

    def notification(self, binding_code, since, timeout=30):
        """Wait for the push, since `since` (time.time()), of the payment showing this binding code (the learner
        compares the codes; an older notification with the same code is another payment)."""
        payload = self.push_service.wait_message(
            self.subscription, lambda p: p.get("binding_code") == binding_code and p.get("id") not in self._handled,
            timeout, since=since)
        self._handled.add(payload["id"])
        return payload

    def push_receipt(self, payment_id):
        """What the service worker sends when the push arrives (no page, so no CSRF token: its cookie counts)."""
        expect(self.http.post(self.base + "/bank/app/api/push/receipt", json={"id": payment_id}, timeout=TIMEOUT),
               "push receipt", status=204)

    def open_approval(self, payment_id):
        """Tap the notification: the approval screen. Returns its CSRF token (its forms' and its JSON calls')."""
        page = expect(self.http.get(f"{self.base}/bank/app/approvals/{payment_id}", timeout=TIMEOUT),
                      "approval screen", contains='data-status="pending"')
        return CSRF_META.search(page.text).group(1)

    def approve_with_pin(self, payment_id, csrf):
        """Type the PIN and tap Approve. Returns (perf_counter when sent, when answered)."""
        sent = time.perf_counter()
        response = self.http.post(f"{self.base}/bank/app/approvals/{payment_id}/approve", allow_redirects=False,
                                  data={"csrf_token": csrf, "pin": self.pin}, timeout=TIMEOUT)
        answered = time.perf_counter()
        if response.status_code not in (302, 303):
            raise LoopError(f"approve with PIN: HTTP {response.status_code}")
        expect(self.http.get(self.base + response.headers["Location"].removeprefix(self.base), timeout=TIMEOUT),
               "approve with PIN", contains='data-status="approved"')
        return sent, answered

    def approve_with_passkey(self, payment_id, csrf):
        """Tap Approve with fingerprint: options, the authenticator, the assertion. Returns (sent, answered)
        for the assertion's POST (the options call and the finger on the sensor come before the approval)."""
        headers = {"X-CSRFToken": csrf}
        options = expect(self.http.post(f"{self.base}/bank/app/api/approvals/{payment_id}/passkey-options",
                                        json={}, headers=headers, timeout=TIMEOUT), "passkey options")
        credential = self.authenticator.get(options.json())
        sent = time.perf_counter()
        response = self.http.post(f"{self.base}/bank/app/api/approvals/{payment_id}/approve-with-passkey",
                                  json={"credential": credential}, headers=headers, timeout=TIMEOUT)
        answered = time.perf_counter()
        expect(response, "approve with passkey")
        if response.json().get("status") != "approved":
            raise LoopError(f"approve with passkey: the bank answered {response.json().get('status')!r}")
        expect(self.http.get(f"{self.base}/bank/app/approvals/{payment_id}", timeout=TIMEOUT),
               "approval screen after the passkey")  # approval.js reloads the page
        return sent, answered

    def approve(self, factor, payment_id, csrf):
        if factor == "pin":
            return self.approve_with_pin(payment_id, csrf)
        return self.approve_with_passkey(payment_id, csrf)

    def decline_payment(self, payment_id, csrf):
        response = self.http.post(f"{self.base}/bank/app/approvals/{payment_id}/decline",
                                  data={"csrf_token": csrf}, timeout=TIMEOUT)
        expect(response, "decline")


def paid(order_id):
    """The laptop's order page hears that this order is paid."""
    return lambda data: isinstance(data, dict) and data.get("order_id") == order_id and data.get("status") == "paid"


class Learner:
    """One learner: a laptop signed in to the shop, a phone enrolled with the bank, and the card to pay with."""

    def __init__(self, index, base_url, credentials, push_service):
        self.index = index
        self.username, self.card = credentials["username"], credentials["card"]
        self.laptop = Laptop(base_url)
        self.laptop.sign_in(credentials["email"], credentials["password"])
        self.phone = Phone(base_url, credentials["username"], credentials["password"], credentials["pin"],
                           push_service)
        self.laptop_socket = self.phone_socket = None

    def socket_specs(self, public_url):
        """The order page's socket (/shop) and the bank app's (/bank), with each page's cookies."""
        return [(public_url, "/shop", {"Cookie": cookie_header(self.laptop.http), "Origin": public_url}, None,
                 ("order_status",)),
                (public_url, "/bank", {"Cookie": cookie_header(self.phone.http), "Origin": public_url}, None,
                 ("payment_request",))]

    def pending_payment(self):
        """Checkout and Pay now, then the phone's notification: a payment waiting for approval.

        Returns {order_id, payment_id, csrf, pay_seconds}; the phone is on the approval screen."""
        since = time.time()
        order_id, binding_code, pay_seconds = self.laptop.checkout(self.card)
        payload = self.phone.notification(binding_code, since)
        self.phone.push_receipt(payload["id"])
        csrf = self.phone.open_approval(payload["id"])
        return {"order_id": order_id, "payment_id": payload["id"], "csrf": csrf, "pay_seconds": pay_seconds}

    def full_loop(self, factor, event_timeout=30):
        """Checkout → Pay now → push → approve → webhook → the laptop's live update. Returns its timings."""
        started = time.perf_counter()
        pending = self.pending_payment()
        sent, answered = self.phone.approve(factor, pending["payment_id"], pending["csrf"])
        arrived = self.laptop_socket.wait_for(paid(pending["order_id"]), event_timeout)
        if arrived is None:
            raise LoopError(f"the laptop's socket heard no order_status 'paid' within {event_timeout} s")
        return {"loop_seconds": arrived[0] - started, "pay_seconds": pending["pay_seconds"],
                "sent_to_event": arrived[0] - sent, "answered_to_event": arrived[0] - answered}

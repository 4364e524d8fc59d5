"""The attacks: each does, over real HTTP, what an attacker with one stated capability would try.

Written by hand, because the lesson is in them: every request is an ordinary one any outsider could
send to the published addresses (the bank's API, the shop's webhook receiver), with nothing but the
capability the attack names (a made-up token, a guessed secret, a captured event). The lab holds no
key of the shop's or the bank's and imports neither: whatever it gets through, a real attacker would.

Each request is drawn in the learner's walkthrough from the attacker's lane. Whether an answer refused
the attack is the attack's to judge (a 200 "duplicate" is a refusal too), and the judgement names the
defence that held. If a defence ever gives way, the outcome says so: the lab never reports success it
did not see.
"""
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import asdict, dataclass, field

import requests

from ..common import tracing
from ..common.http import HttpClient, HttpSettings
from ..walkthrough.recorder import ATTACKER
from .targets import latest_capture, latest_journey_id, latest_payment

ATTACK_STEP = tracing.Step("attack", caller=ATTACKER)


class NeedsSetUp(Exception):
    """The attack needs something of the learner's that is not there yet (a payment, a captured webhook)."""


class RunsInTheBrowser(NeedsSetUp):
    """An attack that only the learner's own browser can send (lab.js does): the server has nothing to run."""


@dataclass
class Attempt:
    """One request the attacker sent, and what stopped it (None: nothing did)."""
    tried: str
    method: str
    url: str
    status: int | None
    answer: str
    stopped_by: str | None


@dataclass
class Outcome:
    attack: str
    held: bool
    summary: str
    journey_id: str
    attempts: list = field(default_factory=list)
    order_id: int | None = None

    def to_json(self):
        return asdict(self)


def _answer(response):
    """What came back, in brief: an error's code and message, or the JSON itself."""
    try:
        body = response.json()
    except ValueError:
        return {}, response.text[:200]
    if not isinstance(body, dict):
        return {}, json.dumps(body)[:200]
    brief = body.get("message") or body.get("error_description") or json.dumps(body)
    return body, f"{body['error']}: {brief}" if body.get("error") else brief[:200]


def refused_with(status, defence):
    """A judge: the answer `status` is the defence `defence` at work."""
    def judge(response):
        return {"reason": defence, "factor": None} if response.status_code == status else None
    return judge


def webhook_judge(response):
    """How the shop's webhook receiver turned a forged, tampered or replayed event away, in words."""
    body, _ = _answer(response)
    message = str(body.get("message") or "")
    if response.status_code == 200 and body.get("duplicate") is True:
        return {"reason": "Deduplicated: the shop remembers every event id it has applied, and applies none twice.",
                "factor": None}
    if response.status_code != 400:
        return None
    if "missing" in message:
        return {"reason": "No Bank-Signature: the shop applies only events the bank signed.", "factor": None}
    if "tolerance" in message:
        return {"reason": "Stale: the signed timestamp is more than the tolerance (5 minutes by default) old, "
                          "so even a correctly signed event is refused.", "factor": None}
    if "does not match" in message:
        return {"reason": "Signature mismatch: the HMAC covers the timestamp and every byte of the body, and only "
                          "the bank and the shop hold the key.", "factor": None}
    return {"reason": f"Refused: {message or 'HTTP 400'}", "factor": None}


class Lab:
    """One attack run for one signed-in learner: their targets, and the attacker's own HTTP client.

    The client is one browser's worth of cookies (a fresh one, never the learner's), so an attack that
    logs in keeps its session from request to request, as a real attacker's browser or script would.
    """

    def __init__(self, config, owner):
        self.config, self.owner = config, owner
        self.payment = latest_payment(owner)
        self.capture = latest_capture(owner)
        self.journey_id = (self.payment.journey_id if self.payment else None) or latest_journey_id(owner) \
            or tracing.new_trace_id()
        self.attempts = []
        self.client = HttpClient(HttpSettings.from_config(config, ATTACKER, step=ATTACK_STEP))
        self.client.session.headers["User-Agent"] = "curl/8.5.0"  # an attacker does not say who they are

    @property
    def bank_api(self):
        return self.config["BANK_API_URL"]

    @property
    def shop_webhook_url(self):
        return self.config["SHOP_WEBHOOK_URL"]

    @property
    def bank_app(self):
        """The bank app's address, as any browser reaches it (the URL its pushes and QR codes carry)."""
        return self.config["BANK_APP_URL"].rstrip("/")

    def _request(self, attack, tried, method, url, receiver, judge, **kwargs):
        """(response, None, verdict) or (None, why no answer, None). The judge runs once, as the answer is
        recorded (so the arrow is drawn refused or not); it may itself look at a page, drawn after it."""
        settings = self.client.settings
        saved = settings.receiver, settings.judge
        verdicts = []

        def judged(response):
            verdicts.append(judge(response))
            return verdicts[-1]
        settings.receiver, settings.judge = receiver, judged if judge else None
        kwargs.setdefault("allow_redirects", False)
        with tracing.trace(self.journey_id, self.owner), tracing.notes(attack={"name": attack.title, "tried": tried}):
            try:
                return self.client.request(method, url, **kwargs), None, (verdicts or [None])[0]
            except requests.RequestException as exc:
                return None, f"no answer ({type(exc).__name__})", None
            finally:
                settings.receiver, settings.judge = saved

    def send(self, attack, tried, method, url, receiver, judge, **kwargs):
        """Send one attacker's request that a defence should stop, drawn in the learner's journey; returns its Attempt."""
        response, failure, verdict = self._request(attack, tried, method, url, receiver, judge, **kwargs)
        if response is None:
            attempt = Attempt(tried, method, url, None, failure, None)
        else:
            attempt = Attempt(tried, method, url, response.status_code, _answer(response)[1],
                              verdict["reason"] if verdict else None)
        self.attempts.append(attempt)
        return attempt

    def look(self, attack, tried, method, url, receiver, **kwargs):
        """A request on the way (a page for its form token, a list to find the target): drawn, not judged.
        Returns the response; a request that got no answer ends the attack as inconclusive."""
        response, failure, _ = self._request(attack, tried, method, url, receiver, None, **kwargs)
        if response is None:
            raise NeedsSetUp(f"The attacker's request got {failure}: {method} {url}.")
        return response

    def outcome(self, attack, held_summary):
        """Held only if every attempt got an answer and every answer was a refusal."""
        answered = all(a.status is not None for a in self.attempts)
        held = answered and all(a.stopped_by for a in self.attempts)
        if held:
            summary = held_summary
        elif not answered:
            summary = "Inconclusive: a request got no answer, so nothing can be said of the defence."
        else:
            summary = "The defence did not hold: a request was not refused. Look at it in the walkthrough."
        return Outcome(attack.slug, held, summary, self.journey_id, self.attempts,
                       self.payment.order_id if self.payment else None)

    def need_payment(self):
        if self.payment is None:
            raise NeedsSetUp("Check out in the shop first (Pay now): this attack aims at your own payment.")
        return self.payment

    def need_capture(self):
        if self.capture is None:
            raise NeedsSetUp("Complete a checkout first (approve it on your phone): this attack starts from the "
                             "signed webhook the bank then sends the shop, which the lab's wiretap catches.")
        return self.capture


def signed_header(timestamp, mac):
    return f"t={timestamp},v1={mac}"


def with_timestamp(signature, timestamp):
    """The same Bank-Signature with `t` changed: what an attacker can do without the key."""
    parts = [f"t={timestamp}" if part.strip().startswith("t=") else part.strip() for part in signature.split(",")]
    return ",".join(parts)


def signed_timestamp(signature):
    for part in signature.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            return int(value)
    return None


# --- the attacks -----------------------------------------------------------------------------------

def any_old_server(lab, attack):
    """1. A server that is not a merchant asks the bank for a payment."""
    payment = lab.payment
    body = {"amount": payment.amount if payment else 12000, "currency": "ZAR", "card_number": "4000 0000 0000 0002",
            "merchant_reference": f"attack-{secrets.token_hex(4)}", "description": "Anything I like",
            "callback_url": "https://attacker.invalid/webhooks"}
    url = f"{lab.bank_api}/api/v1/payment-requests"
    headers = {"Idempotency-Key": secrets.token_hex(16)}
    lab.send(attack, "Ask for a payment with no credentials at all.", "POST", url, "bank",
             refused_with(401, "No bearer token: the bank's API serves only merchants that prove who they are "
                               "(OAuth client credentials, then a token on every call)."), json=body, headers=headers)
    lab.send(attack, "Ask again with a made-up bearer token.", "POST", url, "bank",
             refused_with(401, "Unknown token: the bank keeps a hash of every token it issued, and a made-up one "
                               "matches none."),
             json=body, headers={**headers, "Authorization": f"Bearer {secrets.token_urlsafe(32)}"})
    return lab.outcome(attack, "Without the shop's client secret, no server can get a token, and without a "
                               "token the bank answers 401 to every payment request.")


def forge_webhook(lab, attack):
    """2. Tell the shop "approved" for the learner's payment, without the bank's key."""
    payment = lab.need_payment()
    event = {"id": f"evt_{secrets.token_hex(12)}", "type": "payment_request.approved", "created": int(time.time()),
             "data": {"id": payment.payment_id, "status": "approved", "amount": payment.amount,
                      "currency": payment.currency, "merchant_reference": payment.order_reference}}
    body = json.dumps(event, separators=(",", ":")).encode()
    plain = {"Content-Type": "application/json"}
    lab.send(attack, "Post an 'approved' event with no signature.", "POST", lab.shop_webhook_url, "shop",
             webhook_judge, data=body, headers=plain)
    now = int(time.time())
    guessed_key = "whsec_" + secrets.token_hex(24)  # the right shape; the bank's own is unknown to us
    mac = hmac.new(guessed_key.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    lab.send(attack, "Post it again, signed with a guessed webhook secret.", "POST", lab.shop_webhook_url, "shop",
             webhook_judge, data=body, headers={**plain, "Bank-Signature": signed_header(now, mac)})
    return lab.outcome(attack, "The shop applies only events signed with the secret it shares with the bank. "
                               "Your order did not move.")


def tamper_webhook(lab, attack):
    """3. Change the amount in a captured, signed event and send it on with its signature."""
    capture = lab.need_capture()
    try:
        event = json.loads(capture.body)
        event["data"]["amount"] = 1  # one cent
    except (ValueError, KeyError, TypeError):
        raise NeedsSetUp("The captured webhook is not an event the lab can read.") from None
    body = json.dumps(event, separators=(",", ":")).encode()
    lab.send(attack, "Send the captured event with its amount changed to R 0.01, and its real signature.",
             "POST", lab.shop_webhook_url, "shop", webhook_judge, data=body,
             headers={"Content-Type": "application/json", "Bank-Signature": capture.signature})
    return lab.outcome(attack, "The signature covers every byte of the body, so a changed amount no longer "
                               "matches it.")


def replay_webhook(lab, attack):
    """4. Send a captured, signed event again as it was; then with an older timestamp."""
    capture = lab.need_capture()
    headers = {"Content-Type": "application/json"}
    lab.send(attack, "Send the captured event again, byte for byte, with its real signature.", "POST",
             lab.shop_webhook_url, "shop", webhook_judge, data=capture.body.encode(),
             headers={**headers, "Bank-Signature": capture.signature})
    signed_at = signed_timestamp(capture.signature) or int(time.time())
    older = signed_at - lab.config["WEBHOOK_TOLERANCE_SECONDS"] - 60
    lab.send(attack, "Send it once more, its timestamp set back past the shop's tolerance.", "POST",
             lab.shop_webhook_url, "shop", webhook_judge, data=capture.body.encode(),
             headers={**headers, "Bank-Signature": with_timestamp(capture.signature, older)})
    return lab.outcome(attack, "A replayed event is recognised by its id and changes nothing, and an old one "
                               "is refused however well it is signed.")


FORM_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
NOT_A_REGISTERED_DEVICE = "not one of your registered devices"  # what the bank's approval screen then says
A_PIN_GUESS = "0000"  # the approval form wants a PIN; the thief has none, so guesses


def _form_token(page):
    """The anti-forgery token of a page's form, as a scraper reads it (the thief's browser sends it back)."""
    match = FORM_TOKEN.search(page.text)
    if match is None:
        raise NeedsSetUp("The bank's page had no form for the attacker to fill in.")
    return match.group(1)


def stolen_password(lab, attack, username, password):
    """6. A thief who has the learner's bank password (and nothing else) tries to approve their payment."""
    payment = lab.need_payment()
    login = f"{lab.bank_app}/login"
    page = lab.look(attack, "Open the bank app's log-in page, in a fresh browser of the thief's.", "GET", login, "bank")
    signed_in = lab.look(attack, "Log in with the stolen username and password.", "POST", login, "bank",
                         data={"csrf_token": _form_token(page), "username": username, "password": password})
    if signed_in.status_code != 302:
        raise NeedsSetUp("The bank did not accept that username and password. Type your own bank app log-in: "
                         "the attack plays a thief who has it.")
    try:
        listed = lab.look(attack, "List the approvals waiting in the account.", "GET",
                          f"{lab.bank_app}/api/approvals", "bank")
        waiting = {item.get("id") for item in (listed.json().get("approvals") or []) if isinstance(item, dict)}
        if payment.payment_id not in waiting:
            raise NeedsSetUp("Your newest payment is not waiting in that bank account. Check out again and leave "
                             "the payment waiting, and use the log-in of the card you paid with.")
        approval = f"{lab.bank_app}/approvals/{payment.payment_id}"
        page = lab.look(attack, "Open the payment's approval screen.", "GET", approval, "bank")

        def refused_for_possession(response):
            shown = lab.look(attack, "Read what the bank answered.", "GET", approval, "bank")
            if response.status_code == 302 and NOT_A_REGISTERED_DEVICE in shown.text:
                return {"reason": "Not a registered device: the password opened the bank app, but only a phone "
                                  "registered with your PIN can approve, and the thief's browser is not one.",
                        "factor": "possession:device"}
            return None
        lab.send(attack, f"Approve it, guessing the PIN {A_PIN_GUESS}.", "POST", f"{approval}/approve", "bank",
                 refused_for_possession, data={"csrf_token": _form_token(page), "pin": A_PIN_GUESS})
    finally:  # the thief's session ends here, so the lab leaves no signed-in browser behind
        home = lab.look(attack, "Open the bank app's home page, for its log-out form.", "GET", f"{lab.bank_app}/",
                        "bank")
        lab.look(attack, "Log out.", "POST", f"{lab.bank_app}/logout", "bank", data={"csrf_token": _form_token(home)})
    return lab.outcome(attack, "The stolen password opened the bank app, but approving needs something you have: "
                               "this browser is not a device you registered, so the bank refused before checking "
                               "the PIN. Your payment is still waiting, and no PIN try was spent.")


@dataclass(frozen=True)
class Attack:
    number: int  # the lesson's own numbering of the attacks (the README's table)
    slug: str
    title: str
    attacker_tries: str  # one sentence, on the lab's page
    needs: str  # "nothing", "payment" or "capture"
    run: object
    asks_for: tuple = ()  # what the learner types in for the attacker (the "stolen" password)
    # "server": the lab sends it; "phone" or "laptop": the page sends it from that browser (lab.js), with
    # its own cookies, as the one holding it would (a thief with the phone, the learner's own double click):
    # no server could, and the lab holds none.
    runs_in: str = "server"


ATTACKS = {attack.slug: attack for attack in (
    Attack(1, "any-old-server", "Any old server asks for a payment",
           "A server that is not a merchant of the bank asks it to charge a card: first with no credentials, then "
           "with a bearer token it made up.", "nothing", any_old_server),
    Attack(2, "forge-webhook", "Forge a webhook",
           "Tell the shop \"your payment was approved\" for your waiting order, without the bank's signature, then "
           "with a guessed one.", "payment", forge_webhook),
    Attack(3, "tamper-webhook", "Tamper with a real webhook",
           "Take a signed event the bank really sent (caught on the wire) and change its amount before passing "
           "it on.", "capture", tamper_webhook),
    Attack(4, "replay-webhook", "Replay a real webhook",
           "Send a captured, signed event again, exactly as it was; then with an older timestamp.", "capture",
           replay_webhook),
    Attack(6, "stolen-password", "Stolen password, no phone",
           "Log in to the bank app with your password from a fresh browser (type your own log-in: the thief has "
           "it), find your waiting payment and approve it.", "payment", stolen_password, ("username", "password")),
    Attack(7, "guess-pin", "Guess the PIN",
           "Someone has your unlocked phone but not your PIN: they open your waiting payment and try the commonest "
           "PINs. Open this page on your phone to run it.", "payment", None, runs_in="phone"),
    Attack(8, "double-pay", "Double-click Pay now",
           "Press Pay now twice at once, as an impatient double click or two tabs would: will you be charged "
           "twice? Get to the shop's review page (step 3) first.", "review", None, ("card_number",),
           runs_in="laptop"),
)}


def run_attack(config, owner, slug, inputs=None):
    """Run one attack for the signed-in learner `owner`, with what it asks for (`inputs`, checked by the
    caller); raises NeedsSetUp, or KeyError for no such attack."""
    attack = ATTACKS[slug]
    if attack.run is None:
        raise RunsInTheBrowser(f"{attack.title} runs in your {attack.runs_in}'s browser, from the lab's page: "
                               "it needs that browser's own cookies.")
    return attack.run(Lab(config, owner), attack, *[(inputs or {})[name] for name in attack.asks_for])

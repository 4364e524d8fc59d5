"""Every route of the app, fuzzed over real HTTP with valid sessions and CSRF tokens (hypothesis).

One browser is signed in everywhere at once (shop, PayLab ID, bank app, merchant portal),
with a cart, an order, a pending approval and a registered device, so generated input
reaches the views instead of a login page or a CSRF refusal. Each route of the live app's
url_map (a new route is fuzzed without anyone listing it) gets generated path values, query
strings and bodies: forms of nasty text (control characters, NUL, right-to-left marks,
non-ASCII, huge numbers), JSON of every type where an object is expected (lists, numbers,
null, nested objects, half surrogate pairs, NaN) and bytes that are not UTF-8.

Nothing may answer 5xx. A refusal is in the right format: JSON on the APIs, a page elsewhere.
"""
import inspect
import json
import re
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import requests
from hypothesis import given, strategies as st
from werkzeug.routing import IntegerConverter
from wtforms.fields.core import UnboundField

from app import create_app
from app.common.errors import api_prefixes
from app.common.sessions import session_name_for_path
from config import TestConfig

from ..conftest import new_customer
from ..support import TOKEN_PATTERN, Shopper, csrf_token, new_identity
from .conftest import fuzz_settings

APP_SOURCE = Path(__file__).resolve().parents[2] / "app"
EXAMPLES_PER_ROUTE = 10
NOT_FUZZED = {
    # endpoint: why it is left out
    "static": "serves files from disk; it reads no input but the file name",
    "shop.static": "serves files from disk; it reads no input but the file name",
    "walkthrough.static": "serves files from disk; it reads no input but the file name",
    "bank.app.pwa_file": "serves files from disk; it reads no input but the file name",
    "socket_io_client": "serves one file from disk and reads no input",
}
# Sign-in, sign-up and sign-out replace or end a session: they get a browser of their own, signed in nowhere.
SESSION_CHANGING = re.compile(r"(sign_?in|sign_?up|sign_?out|login|logout|signup)", re.I)
CSRF_IN_PAGE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|<meta name="csrf-token" content="([^"]+)"')
# Pages that carry each session's CSRF token, for a browser signed in, and for one that is not.
TOKEN_PAGES = {"shop": ("/shop/", "/shop/"), "bank": ("/bank/app/", "/bank/app/login"),
               "merchant": ("/bank/merchant/", "/bank/merchant/login"), "idp": ("/idp/", "/idp/signin")}


@dataclass(frozen=True)
class KnownServerError:
    """A 5xx found by this fuzz in code another change is fixing: the request that shows it.

    The route's test sends it first, so it fails for certain until the fix lands, and is
    marked xfail(strict=True): once fixed it passes, strict turns that into a failure, and
    the entry must go.
    """
    reason: str
    path: str
    body: bytes = b""
    content_type: str = "application/json"


KNOWN_SERVER_ERRORS = {
    # (method, rule): a request that still answers 5xx, with the issue it belongs to. Temporary: each goes
    # once its fix lands (the test is strict, so a fixed one fails until its entry is removed).
}


# --- the routes ---------------------------------------------------------------------------------

@cache
def _route_map_app():
    """The app's routes without a server or a database (the url_map is all the collection needs)."""
    return create_app(TestConfig, instance_path=tempfile.mkdtemp(prefix="paylab-routes-"))


def _routes():
    app = _route_map_app()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in NOT_FUZZED:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            marks = []
            if (method, rule.rule) in KNOWN_SERVER_ERRORS:
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_SERVER_ERRORS[method, rule.rule].reason))
            yield pytest.param(method, rule.rule, id=f"{method} {rule.rule}", marks=marks)


def test_every_route_not_fuzzed_has_a_reason_and_exists():
    endpoints = {rule.endpoint for rule in _route_map_app().url_map.iter_rules()}
    assert set(NOT_FUZZED) <= endpoints, "a route left out of the fuzz no longer exists: drop it from NOT_FUZZED"
    assert all(reason.strip() for reason in NOT_FUZZED.values())


def _rule(rule_text):
    return next(rule for rule in _route_map_app().url_map.iter_rules() if rule.rule == rule_text)


@cache
def _all_app_names():
    """Every identifier-like string literal in the app: keys any view or service might look up."""
    names = set()
    for path in APP_SOURCE.rglob("*.py"):
        names |= set(re.findall(r'["\']([a-z_][a-z0-9_]{1,30})["\']', path.read_text()))
    return sorted(names)


@cache
def _route_names(endpoint):
    """The names a view reads: string literals in its own source, and the fields of the forms it uses."""
    view = inspect.unwrap(_route_map_app().view_functions[endpoint])
    try:
        source = inspect.getsource(view)
    except (OSError, TypeError):
        return ()
    names = set(re.findall(r'["\']([a-z_][a-z0-9_]{1,30})["\']', source))
    module = inspect.getmodule(view)
    for form_name in re.findall(r"\b(\w+Form)\(", source):
        form = getattr(module, form_name, None)
        if inspect.isclass(form):
            names |= {name for cls in form.__mro__ for name, field in vars(cls).items()
                      if isinstance(field, UnboundField)}
    return tuple(sorted(names - {"csrf_token"}))


# --- what gets sent -------------------------------------------------------------------------------

NASTY_STRINGS = ["", " ", "\x00", "a\x00b", "\r\n", "\t", "\u202e", "\ufeff", "é", "支付", "🙂" * 30, "𝕏",
                 "9" * 40, "-1", "0", "1e308", "NaN", "Infinity", "0x10", "%00", "../../etc/passwd",
                 "<script>alert(1)</script>", "' OR 1=1 --", "{{7*7}}", "a" * 5000, "\\", "null", "[]", "{}"]
text = st.one_of(st.text(max_size=60), st.sampled_from(NASTY_STRINGS),
                 st.integers(-10**30, 10**30).map(str), st.text(st.characters(codec="utf-8"), min_size=200,
                                                                 max_size=2000))
# JSON may also carry half a surrogate pair (as \\ud800), NaN and numbers no column holds.
json_text = st.one_of(text, st.text(st.characters(categories=["Cs", "Cc", "Lo", "So"]), max_size=20))
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.integers(-2**63, 2**63),
                        st.floats(), json_text)


@dataclass
class Browser:
    """A requests session and the CSRF token of each server's session in it."""
    http: requests.Session
    base: str
    signed_in: bool
    tokens: dict

    def token(self, session_name, refresh=False):
        if session_name not in TOKEN_PAGES:
            return None
        if refresh or session_name not in self.tokens:
            page = TOKEN_PAGES[session_name][0 if self.signed_in else 1]
            match = CSRF_IN_PAGE.search(self.http.get(self.base + page, timeout=15).text)
            self.tokens[session_name] = match and (match.group(1) or match.group(2))
        return self.tokens[session_name]


class FuzzWorld:
    """The fuzz server with one browser signed in everywhere, and what it owns (an order, a device…)."""

    def __init__(self, server):
        self.server, self.base = server, server.url
        self.username, self.password, self.pin, self.card = new_customer(server.app)
        self.email, self.idp_password = new_identity(server.app)
        self.browser = Browser(requests.Session(), self.base, True, {})
        self.sign_in_everywhere()
        self.known_values = self._make_state()

    def sign_in_everywhere(self):
        http = self.browser.http
        shopper = Shopper(self.base)
        shopper.http = http
        shopper.sign_in(self.email, self.idp_password)  # the shop, and PayLab ID on the way
        page = http.get(self.base + "/bank/app/login", timeout=15).text
        http.post(self.base + "/bank/app/login", timeout=15, data={
            "csrf_token": csrf_token(page), "username": self.username, "password": self.password})
        page = http.get(self.base + "/bank/merchant/login", timeout=15).text
        config = self.server.app.config
        http.post(self.base + "/bank/merchant/login", timeout=15, data={
            "csrf_token": csrf_token(page), "client_id": config["BANK_CLIENT_ID"],
            "client_secret": config["BANK_CLIENT_SECRET"]})
        self.browser.tokens.clear()

    def api_token(self):
        """A bearer token of the seeded merchant, for the merchant API's routes."""
        if not hasattr(self, "_api_token"):
            config = self.server.app.config
            self._api_token = requests.post(f"{self.base}/bank/oauth/token", timeout=15,
                                            auth=(config["BANK_CLIENT_ID"], config["BANK_CLIENT_SECRET"]),
                                            data={"grant_type": "client_credentials", "scope": "payments"}
                                            ).json()["access_token"]
        return self._api_token

    def still_signed_in(self):
        http = self.browser.http
        return ('data-testid="signed-in-as"' in http.get(self.base + "/shop/", timeout=15).text
                and http.get(self.base + "/bank/app/", timeout=15).url.endswith("/bank/app/")
                and http.get(self.base + "/bank/merchant/", timeout=15).url.endswith("/bank/merchant/")
                and http.get(self.base + "/idp/", timeout=15).url.endswith("/idp/"))

    def _make_state(self):
        """An order waiting for approval, its payment request, a registered device: values worth sending."""
        shopper = Shopper(self.base)
        shopper.http = self.browser.http
        shopper.fill_cart("headlamp")
        order_id, _ = shopper.checkout(self.card)
        shopper.fill_cart("coffee-beans")  # a cart for the cart routes
        token = self.browser.token("bank")
        device = self.browser.http.post(self.base + "/bank/app/api/devices", timeout=15, json={
            "name": "Fuzz phone", "pin": self.pin}, headers={"X-CSRFToken": token}).json()
        approvals = self.browser.http.get(self.base + "/bank/app/api/approvals", timeout=15).json()["approvals"]
        review = self.browser.http.get(f"{self.base}/shop/orders/{order_id}", timeout=15).text
        payment_token = TOKEN_PATTERN.search(review)
        values = [str(order_id), self.pin, self.card, self.username, self.email, "headlamp", "coffee-beans",
                  "standard", "Western Cape", "allow", "deny", "paylab", self.server.app.config["BANK_CLIENT_ID"],
                  str(device.get("id", "")), *(approval["id"] for approval in approvals)]
        if payment_token:
            values.append(payment_token.group(1))
        return [value for value in values if value]


@pytest.fixture(scope="module")
def world(fuzz_server):
    return FuzzWorld(fuzz_server)


def _path_value(converter, known):
    if isinstance(converter, IntegerConverter):
        return st.one_of(st.sampled_from([int(v) for v in known if v.isdigit()] or [1]),
                         st.integers(0, 10**25), st.sampled_from([0, 2**31, 2**63, 10**20]))
    return st.one_of(st.sampled_from(known), text.filter(lambda value: value not in ("", ".", "..")))


@st.composite
def fuzzed_request(draw, rule_text, known_values):
    rule = _rule(rule_text)
    names = list(_route_names(rule.endpoint)) or ["value"]
    key = st.one_of(st.sampled_from(names), st.sampled_from(_all_app_names()), st.text(max_size=20))
    values = {}
    for argument in sorted(rule.arguments):
        values[argument] = draw(_path_value(rule._converters[argument], known_values))
    path = _route_map_app().url_map.bind("localhost").build(rule.endpoint, values, append_unknown=False)
    known = st.sampled_from(known_values)
    query = draw(st.dictionaries(key, st.one_of(text, known), max_size=4))
    kind = draw(st.sampled_from(["form", "form", "json", "json", "bytes", "none"]))
    if kind == "form":
        body = draw(st.dictionaries(key, st.one_of(text, known, st.lists(st.one_of(text, known), max_size=3)),
                                    max_size=8))
        return path, query, {"data": body}
    if kind == "json":
        children = st.recursive(st.one_of(json_scalar, known), lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(key, inner, max_size=4)), max_leaves=12)
        body = draw(st.one_of(st.dictionaries(key, children, max_size=8), children))
        raw = json.dumps(body)  # allow_nan: NaN and Infinity are sent as Python writes them
        return path, query, {"data": raw.encode(), "headers": {"Content-Type": "application/json"}}
    if kind == "bytes":
        content_type = draw(st.sampled_from(["application/json", "application/x-www-form-urlencoded",
                                             "multipart/form-data; boundary=x", "text/plain", ""]))
        return path, query, {"data": draw(st.binary(max_size=300)), "headers": {"Content-Type": content_type}}
    return path, query, {}


def _send(world, browser, method, path, query, options):
    headers = dict(options.get("headers", {}))
    data = options.get("data")
    session_name = session_name_for_path(path, _route_map_app())
    token = browser.token(session_name) if session_name else None
    if token:
        headers["X-CSRFToken"] = token
        if isinstance(data, dict):
            data = {**data, "csrf_token": token}
    auth = None  # the merchant API's routes get the merchant's real credentials, like every other route
    if path.startswith("/bank/api/"):
        headers["Authorization"] = f"Bearer {world.api_token()}"
    elif path.startswith("/bank/oauth/"):
        auth = (world.server.app.config["BANK_CLIENT_ID"], world.server.app.config["BANK_CLIENT_SECRET"])
    return browser.http.request(method, world.base + path, params=query, data=data, headers=headers, auth=auth,
                                timeout=30)


def _assert_answered_properly(method, path, response):
    hops = [*response.history, response]
    for hop in hops:
        sent = hop.request
        assert hop.status_code < 500, (
            f"{sent.method} {sent.url} (Content-Type: {sent.headers.get('Content-Type')}) → "
            f"{' → '.join(str(h.status_code) for h in hops)}\nbody sent: {(sent.body or b'')[:500]!r}")
    final_path = requests.utils.urlparse(response.url).path
    if 400 <= response.status_code < 500 and response.status_code != 405:
        content_type = response.headers.get("Content-Type", "")
        if final_path.startswith(api_prefixes(_route_map_app())):
            assert content_type.startswith("application/json"), f"{method} {path}: {content_type}"
        elif "json" not in response.request.headers.get("Accept", ""):
            assert content_type.startswith(("text/html", "application/json")), f"{method} {path}: {content_type}"


def ordinary_path(rule_text, value="1"):
    """The route's path with `value` for every argument (a number for numbers)."""
    rule = _rule(rule_text)
    return _route_map_app().url_map.bind("localhost").build(rule.endpoint, {a: value for a in rule.arguments},
                                                            append_unknown=False)


# JSON nested deeper than Python's parser goes: it raises RecursionError, which Werkzeug's get_json() did
# not turn into a 400 as it does a ValueError (app/common/json_provider.py). Hypothesis never nests this deep.
DEEP_JSON = b"[" * 50_000 + b"]" * 50_000


@pytest.mark.parametrize("method, rule_text", list(_routes()))
def test_no_input_makes_a_route_fail(world, method, rule_text, case_tally):
    if not world.still_signed_in():  # a case of the previous route may have ended a session
        world.sign_in_everywhere()
    endpoint = _rule(rule_text).endpoint
    anonymous = SESSION_CHANGING.search(endpoint) is not None
    known = KNOWN_SERVER_ERRORS.get((method, rule_text))
    if known is not None:  # the request that shows it, first: this test fails for certain until it is fixed
        browser = Browser(requests.Session(), world.base, False, {}) if anonymous else world.browser
        response = _send(world, browser, method, known.path, {}, {
            "data": known.body, "headers": {"Content-Type": known.content_type}})
        _assert_answered_properly(method, known.path, response)

    browser = Browser(requests.Session(), world.base, False, {}) if anonymous else world.browser
    path = ordinary_path(rule_text)
    _assert_answered_properly(method, path, _send(world, browser, method, path, {}, {
        "data": DEEP_JSON, "headers": {"Content-Type": "application/json"}}))

    @fuzz_settings(EXAMPLES_PER_ROUTE)
    @given(request=fuzzed_request(rule_text, world.known_values))
    def fuzz(request):
        path, query, options = request
        browser = Browser(requests.Session(), world.base, False, {}) if anonymous else world.browser
        case_tally.count()
        response = _send(world, browser, method, path, query, options)
        if response.status_code == 400 and "did not come from this site" in response.text:
            browser.token(session_name_for_path(path, _route_map_app()), refresh=True)  # a case ended the session: new token
            response = _send(world, browser, method, path, query, options)
        _assert_answered_properly(method, path, response)

    fuzz()


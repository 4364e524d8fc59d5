"""Every response tells the browser what it may load, who may frame it and what it may send (issue #8, point 7).

The attack these close: a page of ours framed by another site (an approval clickjacked), an injected
<script> or inline handler that runs, a response sniffed into script, a Referer that tells other sites
where a visitor was. The browser side (that the pages really pass their policy) is in
tests/browser/test_security_headers_browser.py.
"""
import re
import shutil
from html.parser import HTMLParser
from urllib.parse import quote

import pytest
from sqlalchemy import select

from app.bank import services as bank_services
from app.bank import cards as bank_cards
from app.bank.models import Customer, Merchant
from app.extensions import db

from ..support import csrf_token, make_app

PAGES = ["/shop/", "/shop/cart", "/shop/products/headlamp", "/shop/signin", "/idp/signin", "/idp/signup",
         "/bank/app/login", "/bank/app/signup", "/bank/app/setup", "/bank/merchant/login", "/walkthrough/",
         "/bank/app/offline"]
JSON_APIS = ["/bank/api/openapi.json", "/idp/.well-known/openid-configuration", "/idp/jwks"]


def csp(response):
    """The Content-Security-Policy as {directive: [sources]}."""
    policy = response.headers.get("Content-Security-Policy", "")
    return {name: sources for name, *sources in (part.split() for part in policy.split(";") if part.strip())}


def assert_common_headers(response):
    headers = response.headers
    assert headers.get("X-Frame-Options") == "DENY"
    assert headers.get("X-Content-Type-Options") == "nosniff"
    assert headers.get("Referrer-Policy") in ("same-origin", "strict-origin-when-cross-origin", "no-referrer")
    assert headers.get("Cross-Origin-Opener-Policy") == "same-origin"
    features = dict(item.strip().split("=", 1) for item in headers.get("Permissions-Policy", "").split(","))
    assert features["publickey-credentials-get"] == features["publickey-credentials-create"] == "(self)"
    for unused in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert features[unused] == "()", unused


def assert_strict_page_policy(response):
    policy = csp(response)
    assert policy["script-src"] == ["'self'"], "no inline script, no eval, nothing from elsewhere"
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"][0] == "'self'"
    assert all(source.startswith(("'self'", "http://", "https://")) for source in policy["form-action"])
    assert "'self'" in policy["connect-src"]
    return policy


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_a_strict_policy_and_the_other_headers(client, path):
    response = client.get(path)
    assert response.status_code == 200, path
    policy = assert_strict_page_policy(response)
    assert_common_headers(response)
    assert policy["style-src"] == ["'self'"]  # PayLab ID's style is a static file too
    assert "Strict-Transport-Security" not in response.headers  # PUBLIC_URL is http here


@pytest.mark.parametrize("path", ["/bank/app/static/js/pages/base.js", "/bank/app/sw.js",
                                  "/shop/static/shop.css", "/static/vendor/socket.io.min.js"])
def test_static_files_and_the_service_worker_get_the_headers_too(client, path):
    """The service worker's own response headers are its policy; nosniff makes a script a script."""
    response = client.get(path)
    assert response.status_code == 200, path
    assert_strict_page_policy(response)
    assert_common_headers(response)


@pytest.mark.parametrize("path", JSON_APIS)
def test_json_apis_get_the_same_headers_and_a_policy_that_allows_nothing(client, path):
    response = client.get(path)
    assert response.status_code == 200 and response.is_json, path
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert_common_headers(response)


def test_json_errors_and_error_pages_get_them(client):
    api_error = client.get("/bank/api/v1/payment-requests/nothing")
    assert api_error.status_code == 401 and api_error.is_json
    assert csp(api_error) == {"default-src": ["'none'"], "frame-ancestors": ["'none'"]}
    assert_common_headers(api_error)
    page_error = client.get("/shop/no-such-page")
    assert page_error.status_code == 404
    assert_strict_page_policy(page_error)
    assert_common_headers(page_error)


@pytest.fixture
def signed_in_bank(app, client):
    """The demo customer logged in to the bank app, with one payment request waiting."""
    customer = db.session.scalar(select(Customer).where(Customer.username == "thandi"))
    merchant = db.session.scalar(select(Merchant))
    card = bank_cards.customer_card(customer)
    body, _ = bank_services.request_payment(merchant, "headers-1", {
        "amount": 1000, "currency": "ZAR", "card_number": card.number, "merchant_reference": "order-h1"}, 120)
    db.session.commit()
    page = client.get("/bank/app/login").get_data(as_text=True)
    response = client.post("/bank/app/login", data={"csrf_token": csrf_token(page), "username": "thandi",
                                                    "password": "paylab-demo"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/bank/app/")
    return body["id"]


def test_the_approval_page_cannot_be_framed(client, signed_in_bank):
    """Clickjacking an approval: another site frames the screen and tricks the tap. Both headers refuse."""
    response = client.get(f"/bank/app/approvals/{signed_in_bank}")
    assert response.status_code == 200 and "data-approve-form" in response.get_data(as_text=True)
    assert csp(response)["frame-ancestors"] == ["'none'"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert_common_headers(response)


class ScriptAndHandlerFinder(HTMLParser):
    """Collects what a strict CSP would block in a page: inline script, inline handlers, style attributes."""

    def __init__(self):
        super().__init__()
        self.blocked, self._in_inline_script = [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and not attrs.get("src") and attrs.get("type") != "application/json":
            self._in_inline_script = True
        for name, value in attrs.items():
            if name.startswith("on") or name == "style" or (value or "").strip().lower().startswith("javascript:"):
                self.blocked.append(f"<{tag} {name}=...>")

    def handle_data(self, data):
        if self._in_inline_script and data.strip():
            self.blocked.append(f"inline <script>: {data.strip()[:60]}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_inline_script = False


@pytest.mark.parametrize("path", ["/bank/app/", "/bank/app/approvals/{id}", "/bank/app/devices",
                                  "/bank/app/diagnostics", "/bank/app/account", "/bank/app/offline"])
def test_bank_app_pages_have_no_inline_script_or_handlers(client, signed_in_bank, path):
    response = client.get(path.format(id=signed_in_bank))
    assert response.status_code == 200, path
    finder = ScriptAndHandlerFinder()
    finder.feed(response.get_data(as_text=True))
    assert finder.blocked == []


@pytest.mark.parametrize("path", PAGES)
def test_public_pages_have_no_inline_script_or_handlers(client, path):
    finder = ScriptAndHandlerFinder()
    finder.feed(client.get(path).get_data(as_text=True))
    assert finder.blocked == []


@pytest.fixture
def app_published_at(tmp_path, seeded_instance):
    def make(public_url):
        instance = tmp_path / public_url.replace(":", "_").replace("/", "_")
        shutil.copytree(seeded_instance, instance)
        return make_app(instance, PUBLIC_URL=public_url).test_client()
    return make


@pytest.mark.parametrize("public_url, hsts", [
    ("https://paylab.example", True),
    ("https://bank.tunnel.example:8443", True),
    ("http://paylab.example", False),
    ("https://localhost:8443", False),  # HSTS is per host, all ports: it would break `make run` on :8000
    ("https://192.168.1.20:8443", False),  # browsers ignore HSTS for IP addresses
])
def test_hsts_only_when_public_url_is_https(app_published_at, public_url, hsts):
    client = app_published_at(public_url)
    for path in ("/shop/", "/bank/api/openapi.json"):
        response = client.get(path)
        assert ("Strict-Transport-Security" in response.headers) is hsts, (public_url, path)
        if hsts:
            assert re.fullmatch(r"max-age=\d{8,}", response.headers["Strict-Transport-Security"])


def test_a_form_may_post_to_the_published_origin_behind_a_tunnel(app_published_at):
    client = app_published_at("https://bank.tunnel.example")
    assert "https://bank.tunnel.example" in csp(client.get("/bank/app/login"))["form-action"]


def test_the_idp_sign_in_may_end_at_the_clients_redirect_uri_and_nowhere_else(client):
    """Chrome checks form-action against the redirects after a post: the sign-in ends at the client."""
    authorize = "/idp/authorize?client_id=x&response_type=code&redirect_uri=" + quote("https://app.example/cb", safe="")
    sign_in = client.get("/idp/signin?next=" + quote(authorize, safe=""))
    assert csp(sign_in)["form-action"][-1] == "https://app.example"
    assert "https://app.example" not in csp(client.get("/shop/"))["form-action"]


@pytest.mark.parametrize("redirect_uri", ["javascript:alert(1)", "https://a.example; script-src *",
                                          "https://a.example/'unsafe-inline'", "data:text/html,x"])
def test_a_hostile_redirect_uri_cannot_write_into_the_policy(client, redirect_uri):
    sign_in = client.get("/idp/signin?next=" + quote("/idp/authorize?redirect_uri=" + quote(redirect_uri, safe=""),
                                                      safe=""))
    policy = csp(sign_in)
    assert policy["script-src"] == ["'self'"]
    assert all(re.fullmatch(r"'self'|https?://[A-Za-z0-9.-]+(:\d+)?", source) for source in policy["form-action"])

"""A NUL character anywhere in a request never answers 5xx on PostgreSQL, on any route.

PostgreSQL refuses a NUL in text ("text fields cannot contain NUL"), so a NUL that reaches a
query answers 500 there while SQLite stores it quietly: the fuzz of every route, which runs on
SQLite, cannot see it. This runs PayLab on fresh databases of this machine's PostgreSQL (or
TEST_DATABASE_URL's server), with the fuzz's browser signed in everywhere, and sends each route a
NUL in each place a request carries text: the path, the query, a form, a JSON body, a header, a
cookie. Each is refused as the route refuses bad input (a 404 for an id no route could name, a
form's own error, OAuth's invalid_request…), never 5xx, in JSON on the APIs and as a page elsewhere.
"""
import json
import os

import pytest
import requests
from sqlalchemy import text

from app.bank.devices import DEVICE_COOKIE
from app.common.converters import DatabaseIdConverter
from app.extensions import db

from ..support import POSTGRES_SERVER, LiveServer, PostgresDatabases
from .test_every_route import (SESSION_CHANGING, Browser, FuzzWorld, _assert_answered_properly, _route_names,
                               _routes, _rule, _send, ordinary_path)

# Names every kind of form and body uses, besides those each view's own source names.
COMMON_NAMES = ("client_id", "client_secret", "username", "email", "password", "name", "pin", "code", "next")
# Headers a view reads into a query (the merchant API's idempotency key) or a decision.
HEADERS = ("Idempotency-Key", "X-Requested-With", "traceparent")


@pytest.fixture(scope="module")
def postgres_world(tmp_path_factory):
    databases = PostgresDatabases(os.environ.get("TEST_DATABASE_URL") or POSTGRES_SERVER, "paylab_nul").create()
    server = None
    try:
        server = LiveServer(tmp_path_factory.mktemp("nul") / "instance", RATELIMIT_ENABLED=False,
                            **databases.settings()).start()
        with server.app.app_context():  # it is PostgreSQL that answers, not a SQLite file
            assert db.session.execute(text("SELECT version()")).scalar().startswith("PostgreSQL")
            db.session.remove()
        yield FuzzWorld(server)
    finally:
        if server is not None:
            server.stop()
            with server.app.app_context():
                for engine in db.engines.values():
                    engine.dispose()
        databases.drop()


def _nul_requests(rule_text):
    """(where, path, query, options): the route with a NUL in each place a request carries text."""
    rule = _rule(rule_text)
    names = sorted(set(_route_names(rule.endpoint)) | set(COMMON_NAMES))
    path = ordinary_path(rule_text)
    if rule.arguments and not any(isinstance(rule._converters[a], DatabaseIdConverter) for a in rule.arguments):
        yield "path", ordinary_path(rule_text, "pr_\x00"), {}, {}
    yield "query", path, {name: "a\x00b" for name in names}, {}
    yield "form", path, {}, {"data": {name: "a\x00b" for name in names}}
    yield "json", path, {}, {"json": {name: ["ok", {"inner": "a\x00b"}] for name in names}}
    yield "headers", path, {}, {"headers": {header: "a\x00b" for header in HEADERS}}


@pytest.mark.parametrize("method, rule_text", list(_routes()))
def test_a_nul_anywhere_is_no_server_error_on_postgresql(postgres_world, method, rule_text):
    world = postgres_world
    if not world.still_signed_in():  # a request of the previous route may have ended a session
        world.sign_in_everywhere()
    anonymous = SESSION_CHANGING.search(_rule(rule_text).endpoint) is not None  # signs in or out: a browser of its own
    for where, path, query, options in _nul_requests(rule_text):
        if "json" in options:
            options = {"data": json.dumps(options["json"]).encode(), "headers": {"Content-Type": "application/json"}}
        browser = Browser(requests.Session(), world.base, False, {}) if anonymous else world.browser
        response = _send(world, browser, method, path, query, options)
        _assert_answered_properly(f"{method} (a NUL in the {where})", path, response)


def test_a_nul_in_a_cookie_is_no_server_error_on_postgresql(postgres_world):
    """A quoted cookie value may carry an octal escape, which Werkzeug decodes: \\000 is a NUL. The bank
    app's device cookie is looked up on every page that shows "this phone"."""
    world = postgres_world
    cookie = world.browser.http.cookies
    session_cookies = "; ".join(f"{c.name}={c.value}" for c in cookie)
    for path in ("/bank/app/", "/bank/app/devices", "/bank/app/api/devices"):
        response = requests.get(world.base + path, timeout=15,
                                headers={"Cookie": f'{session_cookies}; {DEVICE_COOKIE}="a\\000b"'})
        _assert_answered_properly("GET (a NUL in the device cookie)", path, response)
        assert response.status_code in (200, 400, 404), (path, response.status_code)

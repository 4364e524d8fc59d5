"""Helpers for driving PayLab over real HTTP: a live server, and a shopper and a bank customer."""
import itertools
import logging
import os
import re
import secrets
import socket
import subprocess
import threading
import time

import requests
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from app import create_app, start_background_workers
from app.cli import seed_demo
from config import TestConfig

logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request drowns the test output

# This machine's PostgreSQL (CI's too), unless TEST_DATABASE_URL names another server.
POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
# The setting that points each of PayLab's databases elsewhere (see app/common/instance.py).
DATABASE_SETTINGS = {"paylab": "DATABASE_URL", "shop": "SHOP_DATABASE_URL", "bank": "BANK_DATABASE_URL",
                     "idp": "IDP_DATABASE_URL"}


class PostgresDatabases:
    """Fresh databases on a PostgreSQL server, named with a random suffix, and dropped after (every
    connection to them closed first), so a test or a bench never touches anything it did not make.

    `databases` maps each database to the setting that points PayLab at it (all four by default).
    """

    def __init__(self, server_url, prefix, databases=None, template=None):
        self.server = make_url(server_url).set(drivername="postgresql+psycopg")
        self.databases = dict(databases or DATABASE_SETTINGS)
        self.prefix = f"{prefix}_{secrets.token_hex(4)}"
        self.names = {database: f"{self.prefix}_{database}" for database in self.databases}
        self.template = template  # PostgresDatabases to copy each database from (no connection may be open to them)

    def _admin(self):
        return create_engine(self.server.set(database="postgres"), isolation_level="AUTOCOMMIT")

    def create(self):
        admin = self._admin()
        try:
            with admin.connect() as sql:
                for database, name in self.names.items():
                    copy = f' TEMPLATE "{self.template.names[database]}"' if self.template else ""
                    sql.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        finally:
            admin.dispose()
        return self

    def settings(self):
        """{setting: URL} for each database, to give PayLab as configuration."""
        return {setting: self.server.set(database=self.names[database]).render_as_string(hide_password=False)
                for database, setting in self.databases.items()}

    def drop(self):
        admin = self._admin()
        try:
            with admin.connect() as sql:
                for name in self.names.values():
                    sql.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
                    sql.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        finally:
            admin.dispose()


CSRF_PATTERN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
TOKEN_PATTERN = re.compile(r'name="payment_token" type="hidden" value="([^"]+)"')


# PAYLAB_TEST_DATABASE=postgresql runs the suite's apps on PostgreSQL (TEST_DATABASE_URL's server, else
# this machine's): each instance folder gets four fresh databases, dropped when the run ends. Its pools
# hold no connection between requests (DATABASE_POOL_SIZE=0): a run makes hundreds of apps, and the
# server allows 100 connections.
SUITE_ON_POSTGRESQL = os.environ.get("PAYLAB_TEST_DATABASE") == "postgresql"
_suite_databases = {}  # resolved instance path -> its PostgresDatabases


def suite_database_settings(instance_path, copy_of=None):
    """The database settings of the suite's app on `instance_path`: {} on SQLite (its files are in the
    folder), else that folder's own PostgreSQL databases, made on first use (copies of `copy_of`'s)."""
    if not SUITE_ON_POSTGRESQL:
        return {}
    key = str(os.path.realpath(instance_path))
    if key not in _suite_databases:
        template = _suite_databases[str(os.path.realpath(copy_of))] if copy_of else None
        server = os.environ.get("TEST_DATABASE_URL") or POSTGRES_SERVER
        _suite_databases[key] = PostgresDatabases(server, "paylab_suite", template=template).create()
    return dict(_suite_databases[key].settings(), DATABASE_POOL_SIZE=0)


def drop_suite_databases(instance_path=None):
    """Drop the databases made for `instance_path` (each takes megabytes of disk), or all of them."""
    if instance_path is not None:
        databases = _suite_databases.pop(str(os.path.realpath(instance_path)), None)
        if databases is not None:
            databases.drop()
        return
    while _suite_databases:
        _suite_databases.popitem()[1].drop()


def make_app(instance_path, **overrides):
    """A migrated, seeded app with its own instance folder (SQLite files and keys, or see above)."""
    config = type("Config", (TestConfig,), {**suite_database_settings(instance_path), **overrides})
    app = create_app(config, instance_path=str(instance_path))
    with app.app_context():
        upgrade()
        seed_demo(app)
    return app


class LiveServer:
    """The real app on a free port in a background thread, with WebSockets and its workers."""

    def __init__(self, instance_path, **overrides):
        self._app_holder = {}
        self.server = make_server("127.0.0.1", 0, self._dispatch, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://localhost:{self.port}"
        settings = {"PUBLIC_URL": self.url, "INTERNAL_URL": f"http://127.0.0.1:{self.port}", "PORT": self.port,
                    "BACKGROUND_WORKERS": True}
        settings.update(overrides)
        self.app = make_app(instance_path, **settings)
        self._app_holder["app"] = self.app
        self.thread = threading.Thread(target=self.server.serve_forever, name="live-server", daemon=True)

    def _dispatch(self, environ, start_response):
        return self._app_holder["app"](environ, start_response)

    def start(self):
        self.thread.start()
        start_background_workers(self.app)
        return self

    def stop(self):
        for name in ("bank_webhook_worker", "bank_push_worker", "bank_expiry_worker"):
            if name in self.app.extensions:
                self.app.extensions[name].stop()
        self.app.extensions["process_bus"].stop()
        self.server.shutdown()
        self.server.server_close()
        if SUITE_ON_POSTGRESQL:
            from app.extensions import db
            with self.app.app_context():
                for engine in db.engines.values():
                    engine.dispose()


def in_app_db(live, fn):
    """Run `fn` against the databases of a live server (or of an app), in a context of its own."""
    from app.extensions import db
    with getattr(live, "app", live).app_context():
        try:
            return fn()
        finally:
            db.session.remove()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout=10.0, interval=0.05, message="condition"):
    """Poll until `condition()` is truthy; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")


def wait_until_serving(process, url, timeout, interval=0.05):
    """Poll `url` until it answers 200 while `process` (a Popen) runs. Returns True when it does, False when
    `timeout` runs out; raises ProcessExited if the process ends first (its exit code says why)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ProcessExited(process.returncode)
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(interval)
    return False


class ProcessExited(RuntimeError):
    def __init__(self, returncode):
        super().__init__(f"exited with {returncode}")
        self.returncode = returncode


def stop_process(process, timeout=10.0):
    """SIGTERM (a clean stop), then SIGKILL if it has not ended within `timeout`."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def csrf_token(html):
    match = CSRF_PATTERN.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


_identities = itertools.count(1)


def new_identity(app, password="a-long-password"):
    """A fresh PayLab ID account; returns (email, password)."""
    from app.extensions import db
    from app.idp import services as idp
    email = f"learner{next(_identities)}-{secrets.token_hex(3)}@example.co.za"
    with app.app_context():
        idp.create_user(email, "Lerato Dlamini", password)
        db.session.remove()
    return email, password


class Shopper:
    """A laptop browser, minus the browser: walks the shop's pages with a cookie jar."""

    def __init__(self, base_url):
        self.base = base_url
        self.http = requests.Session()

    @classmethod
    def signed_in(cls, server):
        """A shopper with a new PayLab ID, signed in to the shop (consent given)."""
        shopper = cls(server.url)
        shopper.sign_in(*new_identity(server.app))
        return shopper

    def sign_in(self, email, password, provider="paylab"):
        """The authorization-code dance as a browser does it: shop → IdP sign-in → consent → shop."""
        page = self.get(f"/shop/signin/{provider}")  # follows the redirects to the provider's sign-in page
        assert "/signin" in page.url, page.url
        page = self.http.post(page.url, timeout=10, data={
            "csrf_token": csrf_token(page.text), "email": email, "password": password})
        if "wants to use your PayLab ID" in page.text:
            page = self.http.post(page.url, timeout=10, data={"csrf_token": csrf_token(page.text),
                                                              "decision": "allow"})
        assert 'data-testid="signed-in-as"' in page.text, f"sign-in did not finish: {page.url}"
        return page

    def get(self, path, **kwargs):
        return self.http.get(self.base + path, timeout=10, **kwargs)

    def post_form(self, path, data, page=None):
        """POST a form the way a browser would: with the CSRF token of the page it came from."""
        html = self.get(page or path).text
        return self.http.post(self.base + path, data={"csrf_token": csrf_token(html), **data}, timeout=15)

    def fill_cart(self, slug="headlamp", quantity=1):
        response = self.post_form(f"/shop/cart/add/{slug}", {"quantity": quantity}, page="/shop/")
        assert response.status_code == 200

    def checkout(self, card_number, delivery="standard"):
        """Cart → confirm → delivery → address → review → Pay now. Returns (order_id, response)."""
        self.post_form("/shop/checkout/", {})
        self.post_form("/shop/checkout/delivery", {"method": delivery})
        self.post_form("/shop/checkout/address", {
            "full_name": "Lerato Dlamini", "phone": "082 123 4567", "street": "12 Long Street",
            "suburb": "City Centre", "city": "Cape Town", "province": "Western Cape", "postal_code": "8001"})
        review = self.get("/shop/checkout/review").text
        token = TOKEN_PATTERN.search(review).group(1)
        response = self.http.post(self.base + "/shop/checkout/pay", timeout=15, data={
            "csrf_token": csrf_token(review), "payment_token": token, "card_number": card_number})
        match = re.search(r"/shop/orders/(\d+)$", response.url)
        assert match, f"Pay now did not lead to an order page: {response.status_code} {response.url}"
        return int(match.group(1)), response

    def order_status(self, order_id):
        return self.get(f"/shop/api/orders/{order_id}/status").json()


class FromAddress(requests.adapters.HTTPAdapter):
    """Connect from a given local address: a second "client" as the server sees it."""

    def __init__(self, address):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


class BankCustomer:
    """The phone's bank app, minus the browser. Approving registers it as a device first (with `pin`)."""

    def __init__(self, base_url, username, password, pin="1234", from_address=None):
        self.base, self.pin = base_url, pin
        self.device = None
        self.http = requests.Session()
        if from_address:  # another client address on this machine, e.g. 127.0.0.2 (all of 127/8 is loopback)
            self.http.mount("http://", FromAddress(from_address))
        page = self.http.get(base_url + "/bank/app/login", timeout=10).text
        response = self.http.post(base_url + "/bank/app/login", timeout=10, data={
            "csrf_token": csrf_token(page), "username": username, "password": password})
        assert response.url.endswith("/bank/app/"), "bank login failed"

    def pending(self):
        return self.http.get(self.base + "/bank/app/api/approvals", timeout=10).json()["approvals"]

    def api(self, method, path, **kwargs):
        """A JSON call from the bank app's page JS: same cookie, CSRF token in X-CSRFToken."""
        page = self.http.get(self.base + "/bank/app/", timeout=10).text
        token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
        return self.http.request(method, self.base + path, timeout=10, headers={"X-CSRFToken": token}, **kwargs)

    def register_device(self, subscription=None, name="Test phone"):
        """This client becomes one of the customer's devices (the PIN the first time), with push if given."""
        body = {"name": name, "pin": self.pin}
        if subscription is not None:
            body["subscription"] = subscription
        response = self.api("POST", "/bank/app/api/devices", json=body)
        assert response.status_code == 201, response.text
        self.device = response.json()
        return self.device

    def decide(self, request_id, action, pin=None):
        if action == "approve" and self.device is None:
            self.register_device()  # only a registered device may approve
        page = self.http.get(f"{self.base}/bank/app/", timeout=10).text  # its sign-out form has the token
        data = {"csrf_token": csrf_token(page)}
        if pin is not None:
            data["pin"] = pin
        return self.http.post(f"{self.base}/bank/app/approvals/{request_id}/{action}", data=data, timeout=15)


class SwitchableProxy:
    """A TCP forwarder whose port can be switched off: "the shop is down" means connection refused."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.port = free_port()
        self._listener = None
        self._connections = []
        self._lock = threading.Lock()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def up(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def down(self):
        if self._listener:
            self._listener.close()
            self._listener = None
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class FreshContextClient:
    """The test client, but each request in its own app context, as in a real server.

    The `app` fixture keeps an app context pushed, and Flask would reuse it for test
    requests, so `g` (where Flask-WTF caches the CSRF token) would leak from one
    request, and one server's session, into the next.
    """

    def __init__(self, app, client):
        self._app, self._client = app, client

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        if name not in ("get", "post", "put", "delete", "open"):
            return attr

        def call(*args, **kwargs):
            with self._app.app_context():
                return attr(*args, **kwargs)
        return call

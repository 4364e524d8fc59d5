"""A class's PayLab, started as the README's host commands start it: `flask release`, then
deploy/classroom.py (three gunicorn gevent web processes, one `flask bank worker`, nginx in front),
on fresh PostgreSQL databases and a Redis server of the test's own, with every key from the
environment. Everything is driven through the proxy, as browsers and the servers' own calls are.

It checks what the issue asks of a classroom: a socket on one process hears an order_status caused
on another; sign-ins succeed whichever process serves each step; 100 payments spread over the
processes, one process SIGKILLed in the middle, every payment approved with one webhook and one push
each; the pool sizes keep PostgreSQL's connections low; with Redis stopped the sign-in pages still
answer, and a start names the problem in one line.
"""
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import socketio
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import create_engine, text

from app.shop.events import SHOP_NAMESPACE

from ..multiprocess import ROOT, WebhookReceiver
from ..pushservice import LocalPushService
from ..support import BankCustomer, PostgresDatabases, Shopper, csrf_token, free_port, stop_process, wait_for

pytestmark = pytest.mark.timeout(900)

POSTGRES_SERVER = os.environ.get("TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
WEB_PROCESSES = 3
PAYMENTS = 100
CUSTOMERS = 5
PIN = "1234"
INSTRUCTOR_PASSWORD = secrets.token_urlsafe(16)


def _pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _free_port_run(count):
    """`count` consecutive free ports (the web processes' WEB_PORTS_FROM onwards)."""
    for _ in range(50):
        first = free_port()
        ports = range(first, first + count)
        try:
            for port in ports:
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
    raise AssertionError("no run of free ports")


class RedisServer:
    """A Redis of the test's own (so that stopping it stops nobody else's), keeping nothing on disk."""

    def __init__(self, directory):
        self.port, self.directory = free_port(), directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self):
        self.process = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no", "--dir", str(self.directory)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._answers, message="the test's Redis")

    def _answers(self):
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self):
        stop_process(self.process)


class Classroom:
    """The stack, as the host starts it, and what the test needs to drive it."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.databases = PostgresDatabases(POSTGRES_SERVER, "paylab_class").create()
        self.redis = RedisServer(tmp_path)
        self.pushes = LocalPushService().start()
        self.port, self.instance = free_port(), tmp_path / "instance"
        self.url = f"http://localhost:{self.port}"  # PUBLIC_URL: what the browsers use
        self.env = dict(os.environ, **self.databases.settings(), **{
            "INSTANCE_PATH": str(self.instance), "PORT": str(self.port),
            "WEB_PORTS_FROM": str(_free_port_run(WEB_PROCESSES)), "WEB_PROCESSES": str(WEB_PROCESSES),
            "PUBLIC_URL": self.url, "SOCKETIO_MESSAGE_QUEUE": self.redis.url,
            # Every key from the environment, as on several machines: none is generated into instance/.
            "SECRET_KEY": secrets.token_hex(32), "BANK_PIN_PEPPER": secrets.token_hex(32),
            "BANK_SECRETS_KEY": Fernet.generate_key().decode(),
            "IDP_SIGNING_KEY": _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            "VAPID_PRIVATE_KEY": _pem(ec.generate_private_key(ec.SECP256R1())),
            "PUSH_SERVICE_HOSTS": "http://127.0.0.1",  # the tests' push service
            "RATELIMIT_PIN": "1000 per minute",  # a few customers approve a hundred payments in a minute
            "WEBHOOK_RETRY_BASE_SECONDS": "0.5", "PAYMENT_TTL_SECONDS": "600",
            "INSTRUCTOR_PASSWORD": INSTRUCTOR_PASSWORD})
        for name in ("CI", "PYTEST_CURRENT_TEST"):
            self.env.pop(name, None)
        self.process = None

    def flask(self, *args):
        result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    def start(self):
        self.flask("release")
        self.log = open(self.tmp / "classroom.log", "w")
        self.process = subprocess.Popen([sys.executable, str(ROOT / "deploy" / "classroom.py")], cwd=ROOT,
                                        env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: "PayLab for a class is running" in self.output() or self.process.poll() is not None,
                 timeout=120, interval=0.2, message="the classroom to start")
        assert self.process.poll() is None, self.output()[-3000:]
        return self

    def output(self):
        return (self.tmp / "classroom.log").read_text()

    def web_ports(self):
        first = int(self.env["WEB_PORTS_FROM"])
        return list(range(first, first + WEB_PROCESSES))

    def serving_pid(self, port):
        """The gunicorn worker that serves `port` (the arbiter's child): the process a SIGKILL takes down."""
        arbiter = int(subprocess.run(["pgrep", "-f", "--", f"-b 127.0.0.1:{port} wsgi:app"], capture_output=True,
                                     text=True).stdout.split()[0])
        children = Path(f"/proc/{arbiter}/task/{arbiter}/children").read_text().split()
        return int(children[0]) if children else None

    def upstream_counts(self, method, path_prefix):
        counts = Counter()
        for line in (self.instance / "classroom" / "access.log").read_text().splitlines():
            if f'"{method} {path_prefix}' in line:
                counts[line.split("upstream=")[1].split()[0]] += 1
        return counts

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.pushes.server.shutdown()
        self.redis.stop()
        self.databases.drop()


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    room = Classroom(tmp_path_factory.mktemp("classroom"))
    try:
        yield room.start()
    finally:
        room.stop()


def test_the_keys_came_from_the_environment(classroom):
    made = {path.name for path in classroom.instance.iterdir()}
    assert not made & {"secret_key", "idp-signing-key.pem", "vapid_private.pem", "bank-pin-pepper.key",
                       "bank-secrets.key"}, made


def test_sign_ins_through_the_proxy_all_succeed(classroom):
    """Each step of the dance may reach another process: the state in the cookie, the code in the
    database, the id_token signed with the one key every process has (before: 6 of 9 failed)."""
    for _ in range(9):
        Shopper(classroom.url).sign_in("thandi@example.co.za", "paylab-demo")
    assert len(classroom.upstream_counts("GET", "/shop/auth/paylab/callback")) >= 2  # more than one process


def test_an_order_status_caused_on_one_process_reaches_a_socket_on_another(classroom):
    customer = json.loads(classroom.flask("bank", "create-customer", "--username", "socket-learner", "--password",
                                          "correct-horse", "--pin", PIN, "--balance", "5000.00"))
    laptop = Shopper(classroom.url)
    laptop.sign_in("thandi@example.co.za", "paylab-demo")
    laptop.fill_cart("headlamp")
    watching, paying = classroom.web_ports()[0], classroom.web_ports()[1]
    heard = []
    client = socketio.Client(reconnection=False)
    client.on("order_status", heard.append, namespace=SHOP_NAMESPACE)
    client.connect(f"http://localhost:{watching}", namespaces=[SHOP_NAMESPACE], transports=["polling"],
                   wait_timeout=10, headers={"Cookie": f"shop_session={laptop.http.cookies.get('shop_session')}"})
    try:
        on_another = Shopper(f"http://localhost:{paying}")  # the same browser's cookies, another process
        on_another.http.cookies = laptop.http.cookies
        order_id, _ = on_another.checkout(customer["card_number"])  # Pay now announces "pending" from there
        wait_for(lambda: any(m["order_id"] == order_id for m in heard), message="pending, from the other process")
        phone = BankCustomer(classroom.url, "socket-learner", "correct-horse", PIN)
        request_id = wait_for(phone.pending, message="the payment request")[0]["id"]
        assert phone.decide(request_id, "approve", pin=PIN).status_code == 200
        wait_for(lambda: any(m["order_id"] == order_id and m["status"] == "paid" for m in heard),
                 message="paid, announced by whichever process took the webhook")
    finally:
        client.disconnect()


def _with_retries(send, attempts=20):
    """What a browser's user does when a process dies under their click: try again (the bank's
    Idempotency-Key and its conditional approval make the second try safe)."""
    for attempt in range(attempts):
        try:
            response = send()
        except requests.ConnectionError:
            response = None
        if response is not None and response.status_code not in (502, 503, 504):
            return response
        time.sleep(0.25)
    raise AssertionError("no answer after retries")


def test_a_hundred_payments_over_the_processes_one_killed_midway_lose_nothing(classroom):
    receiver = WebhookReceiver(webhook_secret=None).start()
    try:
        merchant = json.loads(classroom.flask("bank", "create-merchant", "--name", "Classroom Market",
                                              "--callback-url", receiver.url + "/hooks"))
        receiver.secret = merchant["webhook_secret"]
        phones, cards = [], []
        for n in range(CUSTOMERS):
            customer = json.loads(classroom.flask("bank", "create-customer", "--username", f"class-{n}",
                                                  "--password", "correct-horse", "--pin", PIN,
                                                  "--balance", "100000.00"))
            phone = BankCustomer(classroom.url, f"class-{n}", "correct-horse", PIN)
            phone.register_device(subscription=classroom.pushes.subscribe())
            phones.append(phone)
            cards.append(customer["card_number"])
        token = requests.post(f"{classroom.url}/bank/oauth/token", timeout=10, auth=(
            merchant["client_id"], merchant["client_secret"]), data={"grant_type": "client_credentials",
                                                                     "scope": "payments"}).json()["access_token"]

        def pay(n):  # no cookie: each call may reach any process, as the shop's server-to-server calls do
            key = f"classroom-{n}"
            return _with_retries(lambda: requests.post(
                f"{classroom.url}/bank/api/v1/payment-requests", timeout=15,
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
                json={"amount": 1000 + n, "currency": "ZAR", "card_number": cards[n % CUSTOMERS],
                      "merchant_reference": key, "callback_url": receiver.url + "/hooks"}))

        victim_port = classroom.web_ports()[2]
        request_ids, done = [], threading.Semaphore(0)

        def pay_and_approve(customer):  # one phone per customer, its payments one after another
            for n in range(customer, PAYMENTS, CUSTOMERS):
                response = pay(n)
                assert response.status_code == 201, response.text
                request_id = response.json()["id"]
                decision = _with_retries(lambda: phones[customer].decide(request_id, "approve", pin=PIN))
                assert decision.status_code in (200, 409), decision.text  # 409: the try before it had approved
                request_ids.append(request_id)
                done.release()

        with ThreadPoolExecutor(CUSTOMERS) as pool:
            customers = [pool.submit(pay_and_approve, customer) for customer in range(CUSTOMERS)]
            for _ in range(PAYMENTS // 2):
                done.acquire(timeout=120)
            killed = classroom.serving_pid(victim_port)  # midway, requests in flight: no clean-up of any kind
            os.kill(killed, signal.SIGKILL)
            for future in customers:
                future.result()
        assert len(set(request_ids)) == PAYMENTS

        wait_for(lambda: set(receiver.acknowledged) >= set(_event_ids(classroom, request_ids)), timeout=120,
                 interval=0.5, message="every approval's webhook acknowledged")
        wait_for(lambda: len({m["payload"]["id"] for m in classroom.pushes.messages} & set(request_ids)) == PAYMENTS,
                 timeout=60, interval=0.5, message="every payment's push")
        time.sleep(2)  # room for a duplicate to show up
        statuses = _statuses(classroom, request_ids)
        pushes_per_payment = Counter(m["payload"]["id"] for m in classroom.pushes.messages
                                     if m["payload"]["id"] in set(request_ids))
        spread = classroom.upstream_counts("POST", "/bank/api/v1/payment-requests")
        print(f"\nclassroom: {PAYMENTS} payments, statuses {dict(Counter(statuses.values()))}; webhooks "
              f"{sum(receiver.posts.values())} POSTs for {len(receiver.acknowledged)} events; pushes "
              f"{sum(pushes_per_payment.values())}; payment requests per process {dict(spread)}; "
              f"killed pid {killed} on port {victim_port}; {_connections(classroom)} PostgreSQL connections")
        assert set(statuses.values()) == {"approved"}
        assert all(count == 1 for count in receiver.acknowledged.values()), "a webhook acknowledged twice"
        assert all(count == 1 for count in receiver.posts.values()), "a webhook sent twice"
        assert receiver.bad_signatures == 0
        assert set(pushes_per_payment.values()) == {1}, "a push sent twice"
        assert len(spread) == WEB_PROCESSES, spread  # every process created some
        assert classroom.serving_pid(victim_port) not in (None, killed)  # its arbiter started another
    finally:
        receiver.stop()


def _bank_sql(classroom, query, **params):
    engine = create_engine(classroom.databases.settings()["BANK_DATABASE_URL"])
    try:
        with engine.connect() as sql:
            return sql.execute(text(query), params).all()
    finally:
        engine.dispose()


def _event_ids(classroom, request_ids):
    return [row[0] for row in _bank_sql(classroom, "SELECT id FROM webhook_events WHERE payment_request_id = "
                                                   "ANY(:ids)", ids=request_ids)]


def _statuses(classroom, request_ids):
    return dict(_bank_sql(classroom, "SELECT id, status FROM payment_requests WHERE id = ANY(:ids)", ids=request_ids))


def _connections(classroom):
    names = list(classroom.databases.names.values())
    return _bank_sql(classroom, "SELECT count(*) FROM pg_stat_activity WHERE datname = ANY(:names)",
                     names=names)[0][0]


def test_the_instructor_sees_every_process_the_queue_and_the_class(classroom):
    """Each process says it is alive through Redis (a web process killed above is replaced by another pid)."""
    def overview():
        response = requests.get(f"{classroom.url}/instructor/api/overview", auth=("instructor", INSTRUCTOR_PASSWORD),
                                timeout=10)
        assert response.status_code == 200, response.text
        data = response.json()
        roles = Counter(process["role"] for process in data["deployment"]["processes"])
        return data if roles == {"web": WEB_PROCESSES, "worker": 1} else None
    data = wait_for(overview, timeout=30, interval=1, message="three web processes and the worker listed")
    assert data["deployment"]["queue"]["ok"] and data["bank"]["outbox"]["webhooks_waiting"] == 0
    assert data["bank"]["payments"]["approved"] >= PAYMENTS


def test_the_pools_keep_the_classroom_well_under_postgresqls_connection_limit(classroom):
    # Three web processes and the worker, four databases each, pools of 2 + 2: 64 at most, by design.
    assert _connections(classroom) <= 64


def test_with_redis_stopped_sign_in_still_answers_and_a_start_names_the_problem(classroom):
    """The limits fall back to counting in each process, and say so; Redis back, sign-in goes on."""
    classroom.redis.stop()
    pages = Shopper(classroom.url)
    signin = pages.get("/shop/signin/paylab")  # through the shop to PayLab ID's sign-in page
    assert signin.status_code == 200 and "/idp/signin" in signin.url
    wrong = pages.http.post(signin.url, timeout=10, data={
        "csrf_token": csrf_token(signin.text),
        "email": "thandi@example.co.za", "password": "not-her-password"})
    assert wrong.status_code in (200, 400, 401, 422), wrong.status_code  # the form again, never a 500
    assert pages.get("/bank/app/login").status_code == 200

    result = subprocess.run([sys.executable, str(ROOT / "deploy" / "classroom.py")], cwd=ROOT, timeout=60,
                            env=dict(classroom.env, PORT=str(free_port())), capture_output=True, text=True)
    said = result.stdout + result.stderr
    assert result.returncode == 2 and "Redis does not answer" in said and "Traceback" not in said, said[-2000:]

    classroom.redis.start()
    Shopper(classroom.url).sign_in("thandi@example.co.za", "paylab-demo")

"""The process bus (app/common/process_bus.py): what one process decides, the others act on at once.

Two processes' worth of PayLab on one database and this machine's Redis (a database index and a
channel of their own): a sign-out served by one closes the bank-app socket another holds; and a
decision committed by a web process that runs no worker wakes the worker process now, not at its
next tick (set here to a minute, so only the wake-up can deliver the webhook in time).
"""
import json
import secrets
import signal
import subprocess
import sys

import redis
import socketio

from app.bank.notify import BANK_NAMESPACE

from ..multiprocess import ROOT
from ..support import (BankCustomer, LiveServer, Shopper, csrf_token, in_app_db, new_identity,
                       suite_database_settings, wait_for)
from .test_worker_process import WORKER


def _bus_settings(redis_queue):
    return {"SOCKETIO_MESSAGE_QUEUE": redis_queue, "SOCKETIO_CHANNEL": f"paylab-test-{secrets.token_hex(4)}"}


def _bank_socket(server, customer):
    client = socketio.Client(reconnection=False)
    client.connect(server.url, namespaces=[BANK_NAMESPACE], transports=["polling"], wait_timeout=5,
                   headers={"Cookie": f"bank_session={customer.http.cookies.get('bank_session')}"})
    return client


def _wait_for_listeners(redis_queue, channel, count):
    client = redis.Redis.from_url(redis_queue)
    try:
        wait_for(lambda: dict(client.pubsub_numsub(f"{channel}:processes")).get(f"{channel}:processes".encode(), 0)
                 >= count, message=f"{count} processes listening")
    finally:
        client.close()


def _webhook_delivered(app, request_id):
    from sqlalchemy import select

    from app.bank.models import WebhookEvent
    from app.extensions import db
    return in_app_db(app, lambda: db.session.scalar(select(WebhookEvent.delivered_at).where(
        WebhookEvent.payment_request_id == request_id)))


def test_a_sign_out_served_by_one_process_closes_the_socket_another_holds(tmp_path, redis_queue):
    settings = dict(_bus_settings(redis_queue), BACKGROUND_WORKERS=False)
    instance = tmp_path / "instance"  # one instance folder: one set of databases, as one deployment has
    holding, signing_out = LiveServer(instance, **settings).start(), LiveServer(instance, **settings).start()
    try:
        from ..conftest import new_customer
        username, password, pin, _card = new_customer(holding.app)
        phone = BankCustomer(signing_out.url, username, password, pin)
        spy = _bank_socket(holding, phone)  # the same sign-in's socket, held by the other process
        _wait_for_listeners(redis_queue, settings["SOCKETIO_CHANNEL"], 2)
        home = phone.http.get(f"{signing_out.url}/bank/app/", timeout=10).text
        phone.http.post(f"{signing_out.url}/bank/app/logout", timeout=10, data={"csrf_token": csrf_token(home)})
        wait_for(lambda: not spy.connected, timeout=5, message="the other process closing the signed-out socket")
    finally:
        holding.stop()
        signing_out.stop()


def test_a_decision_in_a_web_process_wakes_the_worker_process_at_once(tmp_path, redis_queue):
    instance = tmp_path / "instance"
    settings = dict(_bus_settings(redis_queue), BACKGROUND_WORKERS=False, BANK_WORKER_INTERVAL_SECONDS=60,
                    **suite_database_settings(instance))  # the worker process's databases are the web's
    web = LiveServer(instance, **settings).start()  # runs no worker: its webhooks wait for the worker process
    worker = subprocess.Popen([sys.executable, "-c", WORKER.format(root=str(ROOT)), json.dumps(settings),
                               str(instance)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        from ..conftest import new_customer
        _username, _password, _pin, card = new_customer(web.app)
        laptop = Shopper(web.url)
        laptop.sign_in(*new_identity(web.app))
        laptop.fill_cart("headlamp")
        _wait_for_listeners(redis_queue, settings["SOCKETIO_CHANNEL"], 2)  # this one and the worker process
        laptop.checkout(card)
        phone = BankCustomer(web.url, _username, _password, _pin)
        request_id = wait_for(lambda: phone.pending(), message="the payment request")[0]["id"]
        assert phone.decide(request_id, "approve", pin=_pin).status_code == 200
        # The worker's next tick is a minute away: only the wake-up gets the webhook to the shop this soon.
        # (Read from the bank's outbox: the shop's order page would also learn it by asking the bank.)
        wait_for(lambda: _webhook_delivered(web.app, request_id), timeout=10,
                 message="the approval's webhook delivered by the worker process")
    finally:
        worker.send_signal(signal.SIGTERM)
        _out, err = worker.communicate(timeout=30)
        web.stop()
    assert worker.returncode == 0, err[-2000:]

"""Three real PayLab processes on one database: every webhook and push goes out once, unless its sender is killed.

The merchant's endpoint (in this test) verifies each signature, answers 503 to the
first two deliveries of every fourth event, and holds one delivery unanswered while
the test SIGKILLs the process that sent it. After that process's lease runs out,
another process delivers the event: nothing is lost. Webhooks are at least once, and
the test holds the bank to exactly what that allows: a POST is repeated only when the
killed process sent it and never recorded its answer (the held one, and at most one
to each other endpoint it was sending to at that moment).

SQLite in a shared instance folder by default; with TEST_DATABASE_URL (a PostgreSQL
server URL) the bank's tables live in a fresh database there, dropped at the end.
"""
import itertools
import os
import secrets
import threading
import time
from collections import Counter

import pytest
import requests
from sqlalchemy import func, select

from app.bank import devices, services
from app.bank import merchants
from app.bank import cards
from app.bank.models import Customer, Merchant, PushMessage, WebhookAttempt, WebhookEvent
from app.bank.merchants import register_webhook_endpoint
from app.extensions import db

from ..multiprocess import GONE, AppProcess, WebhookReceiver, pid_of_local_port
from ..pushservice import LocalPushService
from ..support import PostgresDatabases, free_port, make_app, suite_database_settings, wait_for

PROCESSES = 3
APPROVED, EXPIRING = 50, 15
LEASE_SECONDS = 5.0
SETTINGS = {
    "WEBHOOK_LEASE_SECONDS": LEASE_SECONDS, "WEBHOOK_TIMEOUT_SECONDS": 3.0, "WEBHOOK_RETRY_BASE_SECONDS": 0.2,
    "PUSH_LEASE_SECONDS": LEASE_SECONDS, "PUSH_TIMEOUT_SECONDS": 2.0,
    # One delivery in flight per endpoint, so that the killed process can have left at most one POST
    # unrecorded per endpoint: the held one, and one to the other endpoint if it was sending there too (its
    # answer may have come back just before the kill). That event is delivered again, at least once as
    # webhooks are, and the shop drops the repeat by its event id.
    "WEBHOOK_IN_FLIGHT_PER_ENDPOINT": 1,
}

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def bank_database():
    """None (SQLite in the instance folder), or the URL of a fresh PostgreSQL database, dropped after."""
    server_url = os.environ.get("TEST_DATABASE_URL")
    if not server_url:
        yield None
        return
    databases = PostgresDatabases(server_url, "paylab_multi", {"bank": "BANK_DATABASE_URL"}).create()
    try:
        yield databases.settings()["BANK_DATABASE_URL"]
    finally:
        databases.drop()


def _token(process, client_id, client_secret):
    response = requests.post(process.url + "/bank/oauth/token", auth=(client_id, client_secret), timeout=10,
                             data={"grant_type": "client_credentials", "scope": "payments"})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_three_processes_deliver_every_event_once_unless_its_sender_is_killed(tmp_path, bank_database):
    settings = dict(SETTINGS)
    if bank_database:
        settings["BANK_DATABASE_URL"] = bank_database
    instance = tmp_path / "instance"
    settings = {**suite_database_settings(instance), **settings}  # the processes' databases are the test's
    app = make_app(instance, **settings)  # migrated and seeded once, before any process starts
    receiver = WebhookReceiver(webhook_secret=None).start()
    pushes = LocalPushService().start()
    processes = []
    try:
        with app.app_context():
            merchant, client_secret = merchants.create_merchant("Multi-process Market", receiver.url + "/a")
            endpoints = [receiver.url + "/a", register_webhook_endpoint(merchant, receiver.url + "/b")]
            db.session.commit()
            receiver.secret, client_id = merchant.webhook_secret, merchant.client_id
            customer = services.create_customer("multi-learner", "correct-horse", "1234", 10 ** 9)
            card = cards.customer_card(customer).number
            subscription = pushes.subscribe()
            _, device_token = devices.register_device(customer, None, subscription, "Phone", pin="1234")
            customer_id, merchant_id = customer.id, merchant.id
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()  # the processes open their own connections

        processes = [AppProcess(instance, free_port(), settings) for _ in range(PROCESSES)]
        for process in processes:
            process.wait_ready()
        tokens = [_token(process, client_id, client_secret) for process in processes]
        receiver.sender_pids = [process.pid for process in processes]  # each POST's sender, told apart
        receiver.refuse_every_nth = 4  # every fourth event: 503, 503, then 200

        killed = threading.Event()

        def kill_the_sender_of_the_held_delivery():
            """SIGKILL the process whose delivery the receiver holds, while it waits for the answer."""
            if not receiver.held_event.wait(90):  # a loaded 2-core machine can take a while to get there
                return
            pid = pid_of_local_port(receiver.held[1], [process.pid for process in processes])
            killed.victim = next((process for process in processes if process.pid == pid), None)
            if killed.victim is not None:
                killed.victim.kill()
                killed.set()

        started = time.monotonic()
        approved_ids = []
        for n, process, token in zip(range(APPROVED), itertools.cycle(processes), itertools.cycle(tokens)):
            response = requests.post(process.url + "/bank/api/v1/payment-requests", timeout=15, json={
                "amount": 1000 + n, "currency": "ZAR", "card_number": card, "merchant_reference": f"multi-{n}",
                "callback_url": endpoints[n % 2]}, headers={"Authorization": f"Bearer {token}",
                                                            "Idempotency-Key": secrets.token_hex(8)})
            assert response.status_code == 201, response.text
            approved_ids.append(response.json()["id"])

        with app.app_context():
            merchant = db.session.get(Merchant, merchant_id)
            for n in range(EXPIRING):  # left to expire: the processes' expiry loops decide them
                services.request_payment(merchant, f"expiring-{n}", {
                    "amount": 500 + n, "currency": "ZAR", "card_number": card, "merchant_reference": f"late-{n}",
                    "callback_url": endpoints[n % 2]}, ttl_seconds=1)
            customer = db.session.get(Customer, customer_id)
            for n, payment_id in enumerate(approved_ids):
                if n == APPROVED // 2:
                    receiver.hold_next()  # the next delivery is held while its sender is killed
                    threading.Thread(target=kill_the_sender_of_the_held_delivery, daemon=True).start()
                services.approve_payment_request(customer, payment_id, "1234", device_token)
            db.session.remove()

        assert killed.wait(90), "no delivery was held, or its sender could not be told"
        victim = killed.victim
        receiver.release()
        survivors = [process for process in processes if process is not victim]

        def all_delivered():
            with app.app_context():
                try:
                    return db.session.scalar(select(func.count(WebhookEvent.id)).where(
                        WebhookEvent.merchant_id == merchant_id, WebhookEvent.delivered_at.isnot(None))) \
                        == APPROVED + EXPIRING
                finally:
                    db.session.remove()
        wait_for(all_delivered, timeout=60, interval=0.2, message="every event delivered")
        elapsed = time.monotonic() - started
        time.sleep(LEASE_SECONDS + 0.5)  # room for any duplicate to show up

        with app.app_context():
            events = db.session.scalars(select(WebhookEvent).where(WebhookEvent.merchant_id == merchant_id)).all()
            attempt_rows = Counter(db.session.scalars(select(WebhookAttempt.event_id)).all())
            statuses = Counter(event.type for event in events)
            counts = {event.id: event.attempt_count for event in events}
            held_delivered_at = next(e.delivered_at for e in events if e.id == receiver.held[0])
            push_states = Counter(db.session.scalars(select(PushMessage.state)).all())
            db.session.remove()
        push_per_payment = Counter(m["payload"]["id"] for m in pushes.messages)
        posts = sum(receiver.posts.values())
        duplicates = {event_id: n for event_id, n in receiver.acknowledged.items() if n > 1}
        # POSTs beyond the recorded attempts: sent, but the sender never recorded how it went.
        unrecorded = {event_id: receiver.posts[event_id] - n for event_id, n in counts.items()
                      if receiver.posts[event_id] != n}
        print(f"\nmulti-process ({'PostgreSQL' if bank_database else 'SQLite'}): {len(events)} events "
              f"({dict(statuses)}), {posts} webhook POSTs received, {sum(receiver.acknowledged.values())} "
              f"acknowledged, {len(duplicates)} events acknowledged more than once, attempt rows "
              f"{sum(attempt_rows.values())} vs attempt_count {sum(counts.values())}, "
              f"{sum(unrecorded.values())} POSTs left unrecorded by the kill; pushes sent "
              f"{len(pushes.messages)} for {len(push_per_payment)} payments ({dict(push_states)}); "
              f"held event redelivered after the kill; {elapsed:.1f} s")

        assert statuses == {"payment_request.approved": APPROVED, "payment_request.expired": EXPIRING}
        assert receiver.bad_signatures == 0
        assert set(receiver.acknowledged) == set(counts), "an event was never acknowledged"
        assert dict(attempt_rows) == {event_id: n for event_id, n in counts.items() if n}, \
            "attempt rows must match attempt_count"
        # Every recorded attempt reached the merchant. Beyond them, only the killed process's POSTs: the held
        # one (never answered), and at most one more per endpoint it was sending to.
        held_id = receiver.held[0]
        assert all(extra > 0 for extra in unrecorded.values()), unrecorded
        assert unrecorded.get(held_id, 0) >= 1, "the held POST was recorded, though its sender was killed"
        assert sum(unrecorded.values()) <= len(endpoints), unrecorded
        # The killed process's POSTs: those its pid sent, and those whose sender was gone when the receiver
        # looked (it died right after sending); no other process dies in this test.
        def by_victim(senders):
            return sum(1 for sender in senders if sender in (victim.pid, GONE))
        assert all(sender in receiver.sender_pids for senders in receiver.sent_by.values() for sender in senders
                   if sender != GONE), "a POST from a process the test did not start"
        for event_id, extra in unrecorded.items():
            assert by_victim(receiver.sent_by[event_id]) >= extra, (event_id, receiver.sent_by[event_id])
        # At least once, and no more than that: an event is acknowledged again only when the killed process
        # had it acknowledged and died before recording it.
        for event_id, acknowledgements in duplicates.items():
            unrecorded_answers = by_victim(receiver.acknowledged_to[event_id])
            assert acknowledgements - 1 <= min(unrecorded_answers, unrecorded.get(event_id, 0)), \
                (event_id, receiver.acknowledged_to[event_id])
        refused = receiver.refuse - set(unrecorded)  # the rest: 503, 503, 200, each recorded
        assert refused and all(counts[event_id] == 3 for event_id in refused)
        assert held_delivered_at is not None
        # Each approved request's push reached the phone once (the expiring ones were created without one).
        assert all(push_per_payment[payment_id] == 1 for payment_id in approved_ids), push_per_payment
        assert max(push_per_payment.values()) == 1
        assert all(process.process.poll() is None for process in survivors)
    finally:
        for process in processes:
            process.stop()
        receiver.stop()
        pushes.stop()
        with app.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()

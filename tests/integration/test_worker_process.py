"""`flask bank worker`: the bank's background work in a process of its own, beside web processes that
run none (BACKGROUND_WORKERS=0), as a classroom's deployment runs it; and it stops cleanly on SIGTERM.
"""
import json
import secrets
import signal
import subprocess
import sys
import time

from sqlalchemy import select

from app.bank import cards, services
from app.bank.models import Customer, Merchant, PaymentRequest, WebhookEvent
from app.extensions import db

from ..multiprocess import ROOT
from ..support import in_app_db, make_app, suite_database_settings, wait_for

# The command as `flask bank worker` runs it, on the test's instance folder and configuration.
WORKER = """
import json, sys
sys.path.insert(0, {root!r})
from app import create_app
from config import TestConfig
settings, instance = json.loads(sys.argv[1]), sys.argv[2]
app = create_app(type("WorkerConfig", (TestConfig,), settings), instance_path=instance)
result = app.test_cli_runner().invoke(args=["bank", "worker"])
sys.stdout.write(result.output)
sys.exit(result.exit_code)
"""


def _stored_status(app, payment_id):
    return in_app_db(app, lambda: db.session.scalar(select(PaymentRequest.status)
                                                    .where(PaymentRequest.id == payment_id)))


def _webhook_attempts(app, payment_id):
    return in_app_db(app, lambda: db.session.scalars(select(WebhookEvent.attempt_count)
                                                     .where(WebhookEvent.payment_request_id == payment_id)).all())


def test_the_worker_process_does_the_background_work_and_stops_on_sigterm(tmp_path, redis_queue):
    instance = tmp_path / "instance"
    settings = {"BACKGROUND_WORKERS": False, "BANK_WORKER_INTERVAL_SECONDS": 0.2, "WEBHOOK_RETRY_BASE_SECONDS": 60,
                "WEBHOOK_TIMEOUT_SECONDS": 1.0, "SOCKETIO_MESSAGE_QUEUE": redis_queue,
                "SOCKETIO_CHANNEL": f"paylab-test-{secrets.token_hex(4)}", **suite_database_settings(instance)}
    app = make_app(instance, **settings)  # a web process's app: it runs no worker
    with app.app_context():
        merchant = db.session.scalar(select(Merchant))
        customer = db.session.scalar(select(Customer).where(Customer.username == "thandi"))
        body = {"amount": 1000, "currency": "ZAR", "card_number": cards.customer_card(customer).number,
                "merchant_reference": "order-worker-1", "description": "Left to expire"}
        response, _ = services.request_payment(merchant, "key-worker-1", body, 1)
        payment_id = response["id"]
        db.session.remove()
    time.sleep(2.0)
    assert _stored_status(app, payment_id) == "pending"  # overdue, but nobody here sweeps

    worker = subprocess.Popen([sys.executable, "-c", WORKER.format(root=str(ROOT)), json.dumps(settings),
                               str(instance)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The expiry worker stores the expiry; the webhook worker then tries the merchant's endpoint.
        wait_for(lambda: _stored_status(app, payment_id) == "expired", timeout=20, message="expired by the worker")
        wait_for(lambda: any(count >= 1 for count in _webhook_attempts(app, payment_id)), timeout=20,
                 message="the expiry's webhook attempted by the worker")
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err[-2000:]
    assert json.loads(out.strip().splitlines()[0])["workers"] == ["webhook-worker", "push-worker", "expiry-worker"]


def test_the_worker_process_will_not_run_without_a_message_queue(tmp_path):
    """Its announcements would reach no page: it says so and stops, instead of dropping them silently."""
    app = make_app(tmp_path / "instance")
    result = app.test_cli_runner().invoke(args=["bank", "worker"])
    assert result.exit_code != 0 and "SOCKETIO_MESSAGE_QUEUE" in result.output

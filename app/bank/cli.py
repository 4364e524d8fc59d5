"""`flask bank …`: the bank's operator commands. Each prints JSON for scripts to read."""
import json
import os

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..common.money import InvalidAmount, parse_money
from ..extensions import db
from . import cards, ledger, merchants, services
from .models import Customer, Merchant
from .notify import BANK_WORKERS
from .outbound import OutboundUrlRefused
from .merchants import register_webhook_endpoint, webhook_endpoints_of

bank_cli = AppGroup("bank", help="Bank operator commands.")


def _fail(message):
    raise click.ClickException(message)


@bank_cli.command("create-customer")
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option("--pin", required=True)
@click.option("--balance", default="0.00", help="Opening balance in rand, e.g. 5000.00")
@click.option("--name", "full_name", default="", help="The customer's full name")
def create_customer_command(username, password, pin, balance, full_name):
    """Open a customer with an account, a card and an opening deposit."""
    try:
        customer = services.create_customer(username, password, pin, parse_money(balance), full_name=full_name)
    except (services.BankError, InvalidAmount) as exc:
        _fail(getattr(exc, "message", str(exc)))
    click.echo(json.dumps({"username": customer.username, "card_number": cards.customer_card(customer).number,
                           "balance": f"{ledger.balance_of(customer.account) / 100:.2f}"}))


@bank_cli.command("create-merchant")
@click.option("--name", required=True)
@click.option("--callback-url", required=True,
              help="Where the bank POSTs signed webhooks: the merchant's first (and default) registered endpoint")
def create_merchant_command(name, callback_url):
    """Register a merchant; its client secret is printed once and stored only hashed."""
    try:
        merchant, client_secret = merchants.create_merchant(name, callback_url)
    except services.BankError as exc:
        _fail(exc.message)
    click.echo(json.dumps({"client_id": merchant.client_id, "client_secret": client_secret,
                           "webhook_secret": merchant.webhook_secret}))


@bank_cli.command("add-webhook-endpoint")
@click.option("--client-id", required=True, help="The merchant's client id (mch_…)")
@click.option("--url", required=True, help="Another URL the merchant's payment requests may name as callback_url")
@click.option("--default", "make_default", is_flag=True, help="Send events here when a request names none")
def add_webhook_endpoint_command(client_id, url, make_default):
    """Register a webhook endpoint for a merchant: payment requests may name only registered ones."""
    merchant = db.session.scalar(select(Merchant).where(Merchant.client_id == client_id.strip()))
    if merchant is None:
        _fail("No merchant with that client id.")
    try:
        register_webhook_endpoint(merchant, url)
    except OutboundUrlRefused as exc:
        _fail(str(exc))
    if make_default:
        merchant.callback_url = url
    db.session.commit()
    click.echo(json.dumps({"client_id": merchant.client_id, "default": merchant.callback_url,
                           "endpoints": webhook_endpoints_of(merchant)}))


@bank_cli.command("unlock-card")
@click.option("--card", "card_number", help="The card number")
@click.option("--username", help="Or the customer's username (unlocks their card)")
def unlock_card_command(card_number, username):
    """Unlock a card that was blocked by 5 wrong PINs in a row."""
    if not card_number and username:
        customer = db.session.scalar(select(Customer).where(Customer.username == username.strip().lower()))
        card_number = cards.customer_card(customer).number if customer else None
        if card_number is None:
            _fail("No customer with that username.")
    if not card_number:
        _fail("Give --card NUMBER or --username NAME.")
    try:
        card = cards.unlock_card(card_number)
    except services.BankError as exc:
        _fail(exc.message)
    click.echo(json.dumps({"card_number": card.number, "status": card.status,
                           "failed_pin_attempts": card.failed_pin_attempts,
                           "factors_removed": getattr(card, "factors_removed", 0)}))


@bank_cli.command("worker")
def worker_command():
    """Run the bank's background work in this process until stopped (SIGTERM or Ctrl-C): webhooks to
    merchants, pushes to phones, expiries. Web processes can then run with BACKGROUND_WORKERS=0; this
    runs them whatever that setting says, since running them is all it is for."""
    import signal
    import threading

    from flask import current_app

    app = current_app._get_current_object()
    if not app.config.get("SOCKETIO_MESSAGE_QUEUE"):
        # What the workers announce (a payment expired, a push sent) reaches the pages through the queue:
        # a worker of its own without one would drop it all, silently.
        _fail("The worker's events reach the pages of the web processes through SOCKETIO_MESSAGE_QUEUE "
              "(a Redis URL): set it for the worker and every web process.")
    workers = [app.extensions[name] for name in BANK_WORKERS if name in app.extensions]
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    for worker in workers:
        worker.start()
    bus = app.extensions["process_bus"]
    bus.role = "worker"
    bus.start()  # the web processes wake the workers through it, and the idle sweep closes their sockets
    click.echo(json.dumps({"workers": [worker.name for worker in workers], "pid": os.getpid()}), err=False)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        bus.stop()
        for worker in workers:
            worker.stop()

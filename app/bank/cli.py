"""`flask bank …`: the bank's operator commands. Each prints JSON for scripts to read."""
import json

import click
from flask.cli import AppGroup

from ..common.money import InvalidAmount, parse_money
from . import ledger, services

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
    click.echo(json.dumps({"username": customer.username, "card_number": services.customer_card(customer).number,
                           "balance": f"{ledger.balance_of(customer.account) / 100:.2f}"}))


@bank_cli.command("create-merchant")
@click.option("--name", required=True)
@click.option("--callback-url", required=True, help="Where the bank POSTs signed webhooks")
def create_merchant_command(name, callback_url):
    """Register a merchant; its client secret is printed once and stored only hashed."""
    try:
        merchant, client_secret = services.create_merchant(name, callback_url)
    except services.BankError as exc:
        _fail(exc.message)
    click.echo(json.dumps({"client_id": merchant.client_id, "client_secret": client_secret,
                           "webhook_secret": merchant.webhook_secret}))

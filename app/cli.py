"""`flask seed`: the operator's one-time setup, safe to run again and again.

It plays the part of the people who onboard a shop at a bank: it registers the
shop as a merchant, hands the shop its credentials (in instance/, as a real
operator would hand over a config file), loads the catalogue and opens a demo
customer. It is the only code that touches both the shop and the bank, and it
does so through their public services, never their views.
"""
import json

import click
from flask import current_app
from sqlalchemy import select

from .common.instance import read_json, write_json

MERCHANT_FILE = "shop-merchant.json"
DEMO_CUSTOMER = {"username": "thandi", "password": "paylab-demo", "pin": "1234", "full_name": "Thandi Mokoena"}


def seed_bank_and_shop(app):
    """Seed whatever is missing; return a summary for people to read."""
    from .bank import services as bank
    from .bank.models import Customer, Merchant
    from .extensions import db
    from .shop import services as shop

    summary = {}
    merchant_info = read_json(app.instance_path, MERCHANT_FILE)
    merchant = db.session.scalar(select(Merchant).where(Merchant.client_id == merchant_info.get("client_id", "")))
    if merchant is None:
        merchant, secret = bank.create_merchant("Veldt Market", app.config["SHOP_WEBHOOK_URL"])
        merchant_info = {"client_id": merchant.client_id, "client_secret": secret,
                         "webhook_secret": merchant.webhook_secret}
        write_json(app.instance_path, MERCHANT_FILE, merchant_info)
        summary["merchant"] = "registered Veldt Market at the bank"
    for key, field in (("BANK_CLIENT_ID", "client_id"), ("BANK_CLIENT_SECRET", "client_secret"),
                       ("BANK_WEBHOOK_SECRET", "webhook_secret")):
        app.config[key] = app.config.get(key) or merchant_info[field]
    customer = db.session.scalar(select(Customer).where(Customer.username == DEMO_CUSTOMER["username"]))
    if customer is None:
        customer = bank.create_customer(DEMO_CUSTOMER["username"], DEMO_CUSTOMER["password"], DEMO_CUSTOMER["pin"],
                                        app.config["DEMO_STARTING_BALANCE_CENTS"],
                                        full_name=DEMO_CUSTOMER["full_name"])
        summary["customer"] = "opened the demo customer"
    shop.seed_products()
    summary["demo_customer"] = {"username": customer.username, "password": DEMO_CUSTOMER["password"],
                                "pin": DEMO_CUSTOMER["pin"], "card_number": bank.customer_card(customer).number}
    return summary


def register_cli(app):
    @app.cli.command("seed")
    def seed_command():
        """Register the shop at the bank, load the catalogue, open the demo customer (idempotent)."""
        click.echo(json.dumps(seed_bank_and_shop(current_app), indent=2))

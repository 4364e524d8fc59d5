"""`flask seed`: the operator's one-time setup, safe to run again and again.

It plays the part of the people who onboard a shop at a bank: it registers the
shop as a merchant, hands the shop its credentials (in instance/, as a real
operator would hand over a config file), loads the catalogue and opens a demo
customer. It is the only code that touches both the shop and the bank, and it
does so through their public services, never their views.
"""
import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import select, text

from .common.instance import read_json, write_json

MERCHANT_FILE = "shop-merchant.json"
LOGIN_CLIENT_FILE = "shop-idp-client.json"
DEMO_ID = {"email": "thandi@example.co.za", "name": "Thandi Mokoena", "password": "paylab-demo"}
DEMO_CUSTOMER = {"username": "thandi", "password": "paylab-demo", "pin": "1234", "full_name": "Thandi Mokoena"}


class SeedError(click.ClickException):
    """What the configuration got wrong, said at the release, not found later as failing webhooks."""


def _given_credentials(app, settings):
    """{field: value} when the configuration gives all of `settings` ({field: setting}), None when it gives
    none; some but not all is an error: registering new ones beside them would leave the hosts with a mix
    (one merchant's id and another's webhook secret), and every webhook failing its signature check."""
    values = {field: app.config.get(setting) for field, setting in settings.items()}
    if all(values.values()):
        return values
    if any(values.values()):
        missing = ", ".join(setting for field, setting in settings.items() if not values[field])
        raise SeedError(f"Set {missing} too, or none of {', '.join(settings.values())}: the shop is registered "
                        "with all of its credentials or none.")
    return None


def seed_login_client(app, summary):
    """Register the shop at PayLab ID (once), and allow the callback of the current PUBLIC_URL."""
    from .idp import services as idp

    callback = f"{app.config['PUBLIC_URL']}/shop/auth/paylab/callback"
    info = read_json(app.instance_path, LOGIN_CLIENT_FILE)
    given = _given_credentials(app, {"client_id": "OIDC_PAYLAB_CLIENT_ID", "client_secret": "OIDC_PAYLAB_CLIENT_SECRET"})
    from_configuration = given is not None and given != info  # not merely what this instance/ wrote
    if given:  # the deployment's configuration names the shop's credentials: every host's
        info = given
    client = idp.find_client(info.get("client_id") or "")
    if client is not None and from_configuration and not client.check_client_secret(given["client_secret"]):
        raise SeedError("OIDC_PAYLAB_CLIENT_SECRET is not the secret PayLab ID holds for OIDC_PAYLAB_CLIENT_ID: "
                        "give every host the credentials it was first registered with.")
    if client is None:
        client, secret = idp.create_client("Veldt Market", [callback], **(given or {}))
        info = {"client_id": client.client_id, "client_secret": secret}
        if not given:
            write_json(app.instance_path, LOGIN_CLIENT_FILE, info)
        summary["login"] = "registered Veldt Market at PayLab ID"
    idp.add_redirect_uri(client, callback)
    if not idp.email_is_registered(DEMO_ID["email"]):  # asked first: creating hashes a password (~0.2 s)
        idp.create_user(DEMO_ID["email"], DEMO_ID["name"], DEMO_ID["password"])
        summary["demo_id"] = "created the demo PayLab ID"
    summary["demo_paylab_id"] = {"email": DEMO_ID["email"], "password": DEMO_ID["password"]}
    for key, field in (("OIDC_PAYLAB_CLIENT_ID", "client_id"), ("OIDC_PAYLAB_CLIENT_SECRET", "client_secret")):
        app.config[key] = app.config.get(key) or info[field]


def seed_merchant_and_customer(app, summary):
    """Register the shop as the bank's merchant (once) and open the demo customer (once)."""
    from .bank import cards, merchants, services as bank
    from .bank.models import Customer, Merchant
    from .extensions import db

    merchant_info = read_json(app.instance_path, MERCHANT_FILE)
    given = _given_credentials(app, {"client_id": "BANK_CLIENT_ID", "client_secret": "BANK_CLIENT_SECRET",
                                     "webhook_secret": "BANK_WEBHOOK_SECRET"})
    from_configuration = given is not None and given != merchant_info  # not merely what this instance/ wrote
    if given:  # the deployment's configuration names the shop's credentials: every host's
        merchant_info = given
    merchant = db.session.scalar(select(Merchant).where(Merchant.client_id == (merchant_info.get("client_id") or "")))
    if merchant is not None and from_configuration and not (merchant.check_client_secret(given["client_secret"])
                                               and merchant.webhook_secret == given["webhook_secret"]):
        raise SeedError("BANK_CLIENT_SECRET or BANK_WEBHOOK_SECRET is not what the bank holds for BANK_CLIENT_ID: "
                        "give every host the credentials it was first registered with.")
    if merchant is None:
        merchant, secret = merchants.create_merchant("Veldt Market", app.config["SHOP_WEBHOOK_URL"], **(given or {}))
        merchant_info = {"client_id": merchant.client_id, "client_secret": secret,
                         "webhook_secret": merchant.webhook_secret}
        if not given:
            write_json(app.instance_path, MERCHANT_FILE, merchant_info)
        summary["merchant"] = "registered Veldt Market at the bank"
    for key, field in (("BANK_CLIENT_ID", "client_id"), ("BANK_CLIENT_SECRET", "client_secret"),
                       ("BANK_WEBHOOK_SECRET", "webhook_secret")):
        app.config[key] = app.config.get(key) or merchant_info[field]
    # The shop's webhook URL follows its address (PORT, INTERNAL_URL); the bank calls only registered
    # endpoints, so the current one is registered on every seed, and made the default.
    merchants.register_webhook_endpoint(merchant, app.config["SHOP_WEBHOOK_URL"])
    merchant.callback_url = app.config["SHOP_WEBHOOK_URL"]
    db.session.commit()
    customer = db.session.scalar(select(Customer).where(Customer.username == DEMO_CUSTOMER["username"]))
    if customer is None:
        customer = bank.create_customer(DEMO_CUSTOMER["username"], DEMO_CUSTOMER["password"], DEMO_CUSTOMER["pin"],
                                        app.config["DEMO_STARTING_BALANCE_CENTS"],
                                        full_name=DEMO_CUSTOMER["full_name"])
        summary["customer"] = "opened the demo customer"
    summary["demo_bank_customer"] = {"username": customer.username, "password": DEMO_CUSTOMER["password"],
                                     "pin": DEMO_CUSTOMER["pin"], "card_number": cards.customer_card(customer).number}


def seed_demo(app):
    """Seed whatever is missing for the servers this app runs; return a summary for people to read."""
    summary = {}
    if "idp" in app.blueprints:
        seed_login_client(app, summary)
    if "bank" in app.blueprints:
        seed_merchant_and_customer(app, summary)
    if "shop" in app.blueprints:
        from .shop import services as shop
        shop.seed_products()
    return summary


def migrations_at_head(app):
    """Is every database at the newest migration? Asked before `upgrade()`, which costs a second even
    when it has nothing to do (it loads Alembic's environment and opens each database in turn)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from .extensions import db

    heads = set(ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config()).get_heads())
    for engine in db.engines.values():
        with engine.connect() as connection:
            if set(MigrationContext.configure(connection).get_current_heads()) != heads:
                return False
    return True


# The advisory lock every release of one PayLab takes on PostgreSQL ("PAYLAB" in ASCII, as a number).
RELEASE_LOCK_ID = 0x5041594C4142
RELEASE_LOCK_FILE = "release.lock"


@contextmanager
def release_lock(app):
    """One release at a time, however many processes and hosts start one: two Alembic upgrades at once
    collide on alembic_version, and two seeds at once would each register the shop.

    On PostgreSQL, a session-level advisory lock in the first of PayLab's databases that is on
    PostgreSQL (the default one if it is), which every host of a deployment shares; with every database
    on SQLite (one host), an exclusive lock on a file in instance/.
    """
    from .extensions import db

    engines = [db.engine, *db.engines.values()]  # the default database (the walkthrough's) first
    engine = next((e for e in engines if e.dialect.name == "postgresql"), None)
    if engine is not None:
        # Outside any transaction: the lock is the session's, and an idle transaction held for the whole
        # release could be ended by idle_in_transaction_session_timeout.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": RELEASE_LOCK_ID})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": RELEASE_LOCK_ID})
        return
    path = Path(app.instance_path) / RELEASE_LOCK_FILE
    with open(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def prepare_instance(app):
    """The release: every database at the newest migration, then the seed in place, under the release
    lock. `make run` runs it in its own process before serving (a second start finds both done and
    costs a few milliseconds); `flask release` runs it once per deploy, from any host, at any time."""
    from flask_migrate import upgrade

    with app.app_context(), release_lock(app):
        if not migrations_at_head(app):
            upgrade()
        return seed_demo(app)


def register_cli(app):
    @app.cli.command("seed")
    def seed_command():
        """Register the shop at the bank, load the catalogue, open the demo customer (idempotent)."""
        with release_lock(current_app):
            click.echo(json.dumps(seed_demo(current_app), indent=2))

    @app.cli.command("release")
    def release_command():
        """Migrate every database, then seed what is missing: once per deploy, from any one host; safe to
        repeat, and to start on several hosts at once (they take turns under a lock)."""
        click.echo(json.dumps(prepare_instance(current_app), indent=2))

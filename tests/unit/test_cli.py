"""The operator commands print the JSON the contract promises, and the seed can run twice."""
import json

import pytest
from sqlalchemy import func, select

from app.bank.models import Customer, Merchant
from app.common.security import luhn_valid
from app.extensions import db
from app.idp.models import Client


def test_create_customer_prints_username_card_and_balance(runner):
    result = runner.invoke(args=["bank", "create-customer", "--username", "Sipho", "--password", "s3cret-pass",
                                 "--pin", "4321", "--balance", "5000.00"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["username"] == "sipho" and data["balance"] == "5000.00" and luhn_valid(data["card_number"])


def test_create_customer_explains_bad_input_without_a_traceback(runner):
    result = runner.invoke(args=["bank", "create-customer", "--username", "x", "--password", "short", "--pin", "12"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "username" in result.output.lower()
    result = runner.invoke(args=["bank", "create-customer", "--username", "zola", "--password", "long-enough",
                                 "--pin", "1234", "--balance", "NaN"])
    assert result.exit_code != 0 and "NaN" in result.output


def test_create_merchant_prints_credentials_once(runner, app):
    result = runner.invoke(args=["bank", "create-merchant", "--name", "Another Shop",
                                 "--callback-url", "https://shop.example/webhooks/bank"])
    data = json.loads(result.output)
    assert set(data) == {"client_id", "client_secret", "webhook_secret"}
    merchant = db.session.scalar(select(Merchant).where(Merchant.client_id == data["client_id"]))
    assert merchant.check_client_secret(data["client_secret"])
    assert data["client_secret"] not in merchant.client_secret_hash


def test_webhook_endpoints_are_registered_by_the_operator(runner, app):
    from app.bank.merchants import webhook_endpoints_of
    created = json.loads(runner.invoke(args=["bank", "create-merchant", "--name", "Hook Shop",
                                             "--callback-url", "https://hook.example/bank"]).output)
    merchant = db.session.scalar(select(Merchant).where(Merchant.client_id == created["client_id"]))
    assert webhook_endpoints_of(merchant) == ["https://hook.example/bank"]  # the callback URL is the first one

    result = runner.invoke(args=["bank", "add-webhook-endpoint", "--client-id", created["client_id"],
                                 "--url", "https://hook.example/second", "--default"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"client_id": created["client_id"], "default": "https://hook.example/second",
                                         "endpoints": ["https://hook.example/bank", "https://hook.example/second"]}
    again = runner.invoke(args=["bank", "add-webhook-endpoint", "--client-id", created["client_id"],
                                "--url", "https://hook.example/second"])
    assert json.loads(again.output)["endpoints"] == ["https://hook.example/bank", "https://hook.example/second"]

    for args in (["--client-id", created["client_id"], "--url", "ftp://hook.example/x"],
                 ["--client-id", created["client_id"], "--url", "https://user:pw@hook.example/x"],
                 ["--client-id", "mch_nobody", "--url", "https://hook.example/x"]):
        bad = runner.invoke(args=["bank", "add-webhook-endpoint", *args])
        assert bad.exit_code != 0 and "Traceback" not in bad.output and "Error" in bad.output


def test_idp_create_client(runner):
    result = runner.invoke(args=["idp", "create-client", "--name", "My app",
                                 "--redirect-uri", "https://my.app/callback", "--redirect-uri", "http://localhost/cb"])
    data = json.loads(result.output)
    client = db.session.scalar(select(Client).where(Client.client_id == data["client_id"]))
    assert client.check_client_secret(data["client_secret"]) and client.client_name == "My app"
    assert client.redirect_uris == ["https://my.app/callback", "http://localhost/cb"]
    bad = runner.invoke(args=["idp", "create-client", "--name", "X", "--redirect-uri", "not-a-url"])
    assert bad.exit_code != 0 and "redirect URI" in bad.output


def test_seed_is_idempotent(runner):
    def counts():
        return (db.session.scalar(select(func.count(Merchant.id))), db.session.scalar(select(func.count(Customer.id))),
                db.session.scalar(select(func.count(Client.id))))
    before = counts()
    for _ in range(2):
        result = runner.invoke(args=["seed"])
        assert result.exit_code == 0, result.output
    assert counts() == before  # the app fixture is already seeded: nothing new


def test_seed_registers_the_shops_current_webhook_url(app):
    """The shop's address can change (PORT, INTERNAL_URL); the bank only calls registered endpoints."""
    from sqlalchemy import select as select_

    from app.bank.models import Merchant
    from app.bank.merchants import webhook_endpoints_of
    from app.cli import seed_demo
    from app.extensions import db as db_
    app.config["SHOP_WEBHOOK_URL"] = "http://127.0.0.1:9123/shop/webhooks/bank"
    seed_demo(app)
    seed_demo(app)  # again: nothing new
    merchant = db_.session.scalar(select_(Merchant).where(Merchant.client_id == app.config["BANK_CLIENT_ID"]))
    endpoints = webhook_endpoints_of(merchant)
    assert endpoints.count("http://127.0.0.1:9123/shop/webhooks/bank") == 1
    assert merchant.callback_url == "http://127.0.0.1:9123/shop/webhooks/bank"


def test_credentials_given_by_the_deployment_are_the_ones_registered(app):
    """A host whose configuration names the shop's credentials registers exactly those (the others of the
    deployment have the same), and writes no instance/ file for them."""
    from app.bank import merchants
    from app.bank.errors import InvalidField
    from app.idp import services as idp

    merchant, secret = merchants.create_merchant("Class Shop", "https://shop.example/hook", client_id="mch_class_1",
                                                 client_secret="s" * 30, webhook_secret="whsec_" + "w" * 30)
    assert (merchant.client_id, secret, merchant.webhook_secret) == ("mch_class_1", "s" * 30, "whsec_" + "w" * 30)
    assert merchant.check_client_secret("s" * 30)
    client, client_secret = idp.create_client("Class Shop", ["https://shop.example/cb"], client_id="pid_class_1",
                                              client_secret="o" * 30)
    assert client.client_id == "pid_class_1" and client.check_client_secret("o" * 30)
    for partial in ({"client_id": "mch_class_2"}, {"client_id": "mch_class_2", "client_secret": "short",
                                                   "webhook_secret": "whsec_" + "w" * 30}):
        with pytest.raises(InvalidField):
            merchants.create_merchant("Class Shop", "https://shop.example/hook", **partial)
    with pytest.raises(idp.IdpError):
        idp.create_client("Class Shop", ["https://shop.example/cb"], client_id="pid\x00", client_secret="o" * 30)


@pytest.mark.parametrize("settings, says", [
    ({"BANK_CLIENT_ID": "mch_class_9", "BANK_CLIENT_SECRET": "s" * 30, "BANK_WEBHOOK_SECRET": None},
     "Set BANK_WEBHOOK_SECRET too"),
    ({"OIDC_PAYLAB_CLIENT_ID": "pid_class_9", "OIDC_PAYLAB_CLIENT_SECRET": None}, "Set OIDC_PAYLAB_CLIENT_SECRET too"),
])
def test_a_release_given_some_of_the_shops_credentials_refuses_and_says_which_are_missing(app, settings, says):
    """Registering a second shop beside them would leave the hosts with one merchant's id and another's
    webhook secret: every webhook failing its signature check, found only when orders stay unpaid."""
    from app.cli import SeedError, seed_demo
    app.config.update(settings)
    before = db.session.scalar(select(func.count()).select_from(Merchant))
    with pytest.raises(SeedError, match=says):
        seed_demo(app)
    assert db.session.scalar(select(func.count()).select_from(Merchant)) == before


def test_a_release_given_credentials_that_differ_from_the_registered_ones_says_so(app):
    from app.cli import SeedError, seed_demo
    registered = app.config["BANK_CLIENT_ID"]
    app.config.update(BANK_CLIENT_SECRET="not-the-registered-secret-at-all", BANK_WEBHOOK_SECRET="whsec_" + "x" * 30)
    with pytest.raises(SeedError, match="not what the bank holds for BANK_CLIENT_ID"):
        seed_demo(app)
    assert app.config["BANK_CLIENT_ID"] == registered

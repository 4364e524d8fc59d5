"""Merchant webhook secrets are encrypted at rest: a read of the bank's database alone does not reveal them."""
import json
import stat
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import select, text

from app import create_app
from app.bank import services as bank_services
from app.bank import merchants as bank_merchants
from app.bank.models import Merchant
from app.extensions import db
from config import TestConfig


def bank_rows():
    """What someone who can read the database sees: every column of every merchant row."""
    return [tuple(row) for row in db.session.execute(text("SELECT * FROM merchants"),
                                                      bind_arguments={"bind": db.engines["bank"]})]


def bank_file_bytes(instance):
    for engine in db.engines.values():
        engine.dispose()  # fold the WAL into the file
    return b"".join(p.read_bytes() for p in Path(instance).glob("bank.sqlite*"))


def test_a_webhook_secret_is_not_stored_in_clear(app):
    merchant, _ = bank_merchants.create_merchant("Spaza Online", "https://spaza.example/webhooks/bank")
    secret = merchant.webhook_secret
    assert secret.startswith("whsec_")

    assert not any(secret in str(value) for row in bank_rows() for value in row)
    assert secret.encode() not in bank_file_bytes(app.instance_path)
    db.session.expire_all()
    stored = db.session.scalar(select(Merchant).where(Merchant.client_id == merchant.client_id))
    assert stored.webhook_secret == secret  # callers still read it in clear, when they sign


def test_the_key_is_outside_the_database_and_owner_only(app):
    key_file = Path(app.instance_path) / "bank-secrets.key"
    assert key_file.read_text().strip() == app.config["BANK_SECRETS_KEY"]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert app.config["BANK_SECRETS_KEY"].encode() not in bank_file_bytes(app.instance_path)


def test_the_seeded_shop_merchant_signs_with_the_secret_the_shop_was_given(app):
    given = json.loads((Path(app.instance_path) / "shop-merchant.json").read_text())
    merchant = db.session.scalar(select(Merchant).where(Merchant.client_id == given["client_id"]))
    assert merchant.webhook_secret == given["webhook_secret"]
    assert given["webhook_secret"] not in merchant.webhook_secret_encrypted


def test_a_key_from_the_environment_is_used_and_none_is_written(tmp_path):
    from app.common.secretbox import new_key
    key = new_key()
    config = type("Config", (TestConfig,), {"BANK_SECRETS_KEY": key})
    app = create_app(config, instance_path=str(tmp_path / "instance"))
    assert app.config["BANK_SECRETS_KEY"] == key
    assert not (tmp_path / "instance" / "bank-secrets.key").exists()


def test_a_malformed_key_stops_the_start_up_with_a_sentence(tmp_path):
    from app.common.secretbox import SecretKeyError
    config = type("Config", (TestConfig,), {"BANK_SECRETS_KEY": "not-a-key"})
    with pytest.raises(SecretKeyError, match="Fernet"):
        create_app(config, instance_path=str(tmp_path / "instance"))


def test_another_key_cannot_open_a_stored_secret(app):
    from app.common.secretbox import SecretKeyError, new_key
    merchant, _ = bank_merchants.create_merchant("Spaza Online", "https://spaza.example/webhooks/bank")
    app.config["BANK_SECRETS_KEY"] = new_key()
    with pytest.raises(SecretKeyError):
        merchant.webhook_secret  # noqa: B018


def test_a_second_key_in_the_list_still_opens_old_secrets(app):
    from app.common.secretbox import new_key
    merchant, _ = bank_merchants.create_merchant("Spaza Online", "https://spaza.example/webhooks/bank")
    secret = merchant.webhook_secret
    app.config["BANK_SECRETS_KEY"] = new_key() + "," + app.config["BANK_SECRETS_KEY"]  # a rotated key
    assert merchant.webhook_secret == secret


def test_migration_0009_encrypts_the_secrets_stored_in_clear(tmp_path):
    instance = tmp_path / "instance"
    app = create_app(TestConfig, instance_path=str(instance))
    with app.app_context():
        upgrade(revision="0008")
        bank = db.engines["bank"]
        with bank.begin() as connection:
            connection.execute(text("INSERT INTO accounts (id, number, kind, name, created_at) "
                                    "VALUES (1, '9000000001', 'merchant', 'Old Shop settlement', '2026-01-01')"))
            connection.execute(text(
                "INSERT INTO merchants (name, client_id, client_secret_hash, webhook_secret, callback_url, scope, "
                "account_id, created_at) VALUES ('Old Shop', 'mch_old', 'x', 'whsec_clear_text_secret', "
                "'https://old.example/hook', 'payments', 1, '2026-01-01')"))

        upgrade()

        assert b"whsec_clear_text_secret" not in bank_file_bytes(instance)
        merchant = db.session.scalar(select(Merchant).where(Merchant.client_id == "mch_old"))
        assert merchant.webhook_secret == "whsec_clear_text_secret"
        db.session.remove()

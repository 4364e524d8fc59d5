"""Embedded defaults: SQLite files and generated secrets in `instance/`.

The first run writes them; every later run reuses them, so sessions and
keys survive a restart without anyone configuring anything.
"""
import json
import os
import secrets
from pathlib import Path

SERVER_DATABASES = {"shop": "SHOP_DATABASE_URL", "bank": "BANK_DATABASE_URL", "idp": "IDP_DATABASE_URL"}


def read_or_create_secret(instance_path, filename, make_secret=lambda: secrets.token_hex(32)):
    """Return the secret stored in instance/filename, creating it (mode 0600) if missing."""
    path = Path(instance_path) / filename
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make_secret()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return value


def read_json(instance_path, filename):
    path = Path(instance_path) / filename
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def write_json(instance_path, filename, data):
    path = Path(instance_path) / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)


def sqlite_url(instance_path, name):
    return f"sqlite:///{Path(instance_path) / name}.sqlite"


def apply_embedded_defaults(app):
    """Fill every unset setting from instance/, so `make run` needs no configuration."""
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    config = app.config
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = read_or_create_secret(app.instance_path, "secret_key")
    config["SQLALCHEMY_DATABASE_URI"] = config.get("DATABASE_URL") or sqlite_url(app.instance_path, "paylab")
    config["SQLALCHEMY_BINDS"] = {
        server: config.get(key) or sqlite_url(app.instance_path, server)
        for server, key in SERVER_DATABASES.items()
    }
    config["BANK_API_URL"] = config.get("BANK_API_URL") or f"{config['INTERNAL_URL']}/bank"
    config["BANK_APP_URL"] = config.get("BANK_APP_URL") or f"{config['PUBLIC_URL']}/bank/app/"
    config["SHOP_WEBHOOK_URL"] = config.get("SHOP_WEBHOOK_URL") or f"{config['INTERNAL_URL']}/shop/webhooks/bank"
    merchant = read_json(app.instance_path, "shop-merchant.json")
    for key, field in (("BANK_CLIENT_ID", "client_id"), ("BANK_CLIENT_SECRET", "client_secret"),
                       ("BANK_WEBHOOK_SECRET", "webhook_secret")):
        if not config.get(key):
            config[key] = merchant.get(field)
    login_client = read_json(app.instance_path, "shop-idp-client.json")
    config.setdefault("OIDC_PAYLAB_METADATA_URL", f"{config['INTERNAL_URL']}/idp/.well-known/openid-configuration")
    for key, field in (("OIDC_PAYLAB_CLIENT_ID", "client_id"), ("OIDC_PAYLAB_CLIENT_SECRET", "client_secret")):
        if not config.get(key):
            config[key] = login_client.get(field)

"""Embedded defaults: SQLite files and generated secrets in `instance/`.

The first run writes them; every later run reuses them, so sessions and
keys survive a restart without anyone configuring anything.

Everything in it is for the owner only: the folder is 0700, every secret and
SQLite file 0600 (the databases hold card numbers and password hashes), and
files left more open by an older version are tightened at start-up.
"""
import json
import os
import secrets
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from config import raise_unusable_settings

from .secretbox import check_keys, new_key

SERVER_DATABASES = {"shop": "SHOP_DATABASE_URL", "bank": "BANK_DATABASE_URL", "idp": "IDP_DATABASE_URL"}


OWNER_ONLY_DIRECTORY = 0o700
OWNER_ONLY_FILE = 0o600
# SQLite's companions of a database file; it creates them with the database file's own mode.
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def make_private_directory(path):
    """Create `path` (and parents) owner-only, and take group and other access off it if it exists."""
    path = Path(path)
    path.mkdir(mode=OWNER_ONLY_DIRECTORY, parents=True, exist_ok=True)
    path.chmod(OWNER_ONLY_DIRECTORY)


def read_or_create_secret(instance_path, filename, make_secret=lambda: secrets.token_hex(32)):
    """Return the secret stored in instance/filename, creating it (mode 0600) if missing.

    Created atomically: the value is written to a private temporary file, then linked into
    place, which fails if another process got there first (whose secret is then read). So no
    process ever reads a half-written secret, and two processes never use different ones.
    """
    path = Path(instance_path) / filename
    if not path.exists():
        make_private_directory(path.parent)
        temporary = path.with_name(f".{filename}.{secrets.token_hex(8)}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY_FILE)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(make_secret())
                f.flush()
                os.fsync(f.fileno())
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process created it first: use theirs
        finally:
            temporary.unlink()
    return path.read_text().strip()


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


def sqlite_file(url):
    """The file path of a SQLite URL, or None for another database or an in-memory one."""
    url = make_url(url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:") or \
            url.database.startswith("file:"):
        return None
    return Path(url.database)


def make_sqlite_files_private(urls):
    """Create each SQLite database file 0600 before SQLite opens it, and tighten existing ones.

    SQLite creates a new database with the process's umask (0644 as a rule), but opens an
    existing file as it is, and gives its -wal and -shm files the database file's mode.
    """
    for url in urls:
        path = sqlite_file(url)
        if path is None:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, OWNER_ONLY_FILE))
        for suffix in SQLITE_COMPANIONS:
            companion = path.with_name(path.name + suffix)
            if companion.exists():
                companion.chmod(OWNER_ONLY_FILE)


def bank_secrets_key(config, instance_path):
    """BANK_SECRETS_KEY from the environment, else one generated once into instance/ (never the database)."""
    return check_keys(config.get("BANK_SECRETS_KEY") or read_or_create_secret(instance_path, "bank-secrets.key",
                                                                              new_key))


def database_pool_options(config, url):
    """The engine options of the database at `url`: a connection pool sized for PostgreSQL's connection limit.

    Each process holds a pool per database (four of them), so SQLAlchemy's default (5, plus 10 more
    under load) let one process open 60 connections: two processes could use up PostgreSQL's 100.
    The defaults (2 kept, 2 more under load, DATABASE_POOL_SIZE and DATABASE_MAX_OVERFLOW) keep a
    deployment of three web processes and a worker at 64. A request holds a connection only until
    its commit, and no transaction stays open across a network call, so a few per database serve a
    process's sockets; a checkout that waits longer than DATABASE_POOL_TIMEOUT fails that request.
    pool_pre_ping replaces a connection the server dropped (a restart, an idle timeout) before it
    is used, at the cost of a round trip per checkout. DATABASE_POOL_SIZE=0 keeps no pool at all (behind
    PgBouncer, which pools itself). SQLite files keep SQLAlchemy's own pooling.
    """
    if not str(url).startswith("postgresql"):
        return {}
    if config["DATABASE_POOL_SIZE"] == 0:  # no pool: each checkout connects, each return closes (PgBouncer)
        return {"poolclass": NullPool}
    return {"pool_size": config["DATABASE_POOL_SIZE"], "max_overflow": config["DATABASE_MAX_OVERFLOW"],
            "pool_timeout": config["DATABASE_POOL_TIMEOUT"], "pool_pre_ping": config["DATABASE_POOL_PRE_PING"]}


def apply_embedded_defaults(app):
    """Fill every unset setting from instance/, so `make run` needs no configuration."""
    raise_unusable_settings()  # a secret's file that could not be read: never "unset", never generated anew
    make_private_directory(app.instance_path)
    config = app.config
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = read_or_create_secret(app.instance_path, "secret_key")
    config["BANK_SECRETS_KEY"] = bank_secrets_key(config, app.instance_path)
    # The PINs' pepper (app/bank/pins.py): a key the database never holds.
    config["BANK_PIN_PEPPER"] = config.get("BANK_PIN_PEPPER") or read_or_create_secret(app.instance_path,
                                                                                       "bank-pin-pepper.key")
    config["SQLALCHEMY_DATABASE_URI"] = config.get("DATABASE_URL") or sqlite_url(app.instance_path, "paylab")
    binds = {server: config.get(key) or sqlite_url(app.instance_path, server) for server, key in SERVER_DATABASES.items()}
    make_sqlite_files_private([config["SQLALCHEMY_DATABASE_URI"], *binds.values()])
    config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", database_pool_options(config, config["SQLALCHEMY_DATABASE_URI"]))
    # A bind's engine options go with its URL (Flask-SQLAlchemy applies SQLALCHEMY_ENGINE_OPTIONS to the default only).
    config["SQLALCHEMY_BINDS"] = {server: {"url": url, **database_pool_options(config, url)}
                                  if database_pool_options(config, url) else url for server, url in binds.items()}
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

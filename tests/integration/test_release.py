"""`flask release`: migrate, then seed, once per deploy, and safe when several hosts start it at once.

Seen before: two `flask db upgrade` at once failed on alembic_version, and `flask seed` on each host
registered the shop a second time at the bank and at PayLab ID. Here three processes start the
release at the same instant, as three hosts of one deployment would (each with an instance/ of its
own, the databases on this machine's PostgreSQL, the shop's credentials from the configuration),
and on SQLite three processes share one instance/ (one host).
"""
import json
import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, func, select, text

from app.bank.models import Merchant
from app.common.secretbox import new_key
from app.idp.models import Client

from ..support import POSTGRES_SERVER, PostgresDatabases

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# One host's release, as `flask release` runs it (app.cli.prepare_instance), started at a given instant.
RELEASE = """
import json, sys, time
sys.path.insert(0, {root!r})
from app import create_app
from app.cli import prepare_instance
from config import TestConfig
settings, start_at, instance = json.loads(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
app = create_app(type("HostConfig", (TestConfig,), settings), instance_path=instance)
time.sleep(max(0.0, start_at - time.time()))
summary = prepare_instance(app)
print(json.dumps(sorted(summary)))
"""
SHARED = {  # what a deployment's configuration gives every host alike: its secrets too
    "BANK_SECRETS_KEY": new_key(), "BANK_PIN_PEPPER": "ab" * 32, "SECRET_KEY": "k" * 64,
    "BANK_CLIENT_ID": "mch_classroom", "BANK_CLIENT_SECRET": "c" * 40, "BANK_WEBHOOK_SECRET": "whsec_" + "w" * 40,
    "OIDC_PAYLAB_CLIENT_ID": "pid_classroom", "OIDC_PAYLAB_CLIENT_SECRET": "o" * 40,
    "PUBLIC_URL": "http://localhost:8000", "INTERNAL_URL": "http://127.0.0.1:8000",
}


def _release_at_once(instances, settings, count=3):
    start_at = time.time() + 3.0  # after every interpreter has imported the app
    processes = [subprocess.Popen([sys.executable, "-c", RELEASE.format(root=ROOT), json.dumps(settings),
                                   str(start_at), str(instances[i % len(instances)])],
                                  cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(count)]
    results = [process.communicate(timeout=120) for process in processes]
    for process, (out, err) in zip(processes, results):
        assert process.returncode == 0, err[-3000:]
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in results]


def _count(url, model, *where):
    engine = create_engine(url)
    try:
        with engine.connect() as sql:
            return sql.execute(select(func.count()).select_from(model).where(*where)).scalar()
    finally:
        engine.dispose()


def _at_head(url):
    engine = create_engine(url)
    try:
        with engine.connect() as sql:
            return sql.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    finally:
        engine.dispose()


@pytest.mark.timeout(180)
def test_three_hosts_releasing_at_once_on_postgresql_migrate_once_and_register_the_shop_once(tmp_path):
    databases = PostgresDatabases(os.environ.get("TEST_DATABASE_URL") or POSTGRES_SERVER, "paylab_release").create()
    try:
        urls = databases.settings()
        summaries = _release_at_once([tmp_path / f"host-{i}" for i in range(3)], {**SHARED, **urls})
        # One host registered the shop; the others found it registered.
        assert sum("merchant" in s for s in summaries) == 1 and sum("login" in s for s in summaries) == 1
        assert _count(urls["BANK_DATABASE_URL"], Merchant) == 1
        assert _count(urls["BANK_DATABASE_URL"], Merchant, Merchant.client_id == SHARED["BANK_CLIENT_ID"]) == 1
        assert _count(urls["IDP_DATABASE_URL"], Client) == 1
        assert _count(urls["IDP_DATABASE_URL"], Client, Client.client_id == SHARED["OIDC_PAYLAB_CLIENT_ID"]) == 1
        heads = {name: _at_head(url) for name, url in urls.items()}
        assert all(len(versions) == 1 for versions in heads.values()), heads
        # A later release (the next deploy) changes nothing.
        again = _release_at_once([tmp_path / "host-0"], {**SHARED, **urls}, count=1)
        assert again[0] == sorted(set(again[0]) - {"merchant", "login", "customer", "demo_id"})
        assert _count(urls["BANK_DATABASE_URL"], Merchant) == 1
    finally:
        databases.drop()


@pytest.mark.timeout(180)
def test_three_releases_at_once_on_one_sqlite_instance_register_the_shop_once(tmp_path):
    instance = tmp_path / "instance"
    summaries = _release_at_once([instance], {"PUBLIC_URL": "http://localhost:8000"})
    assert sum("merchant" in s for s in summaries) == 1
    bank = f"sqlite:///{instance / 'bank.sqlite'}"
    assert _count(bank, Merchant) == 1
    merchant_file = json.loads((instance / "shop-merchant.json").read_text())
    assert _count(bank, Merchant, Merchant.client_id == merchant_file["client_id"]) == 1
    assert _count(f"sqlite:///{instance / 'idp.sqlite'}", Client) == 1

"""Start-up: where PayLab listens, what it warns about, and what its pages need to load. No server."""
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from app import create_app
from config import StartupError, TestConfig

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER_WARNING = "VAPID_SUBJECT uses the placeholder host"
CONFIG_VARIABLES = ("HOST", "PORT", "PUBLIC_URL", "INTERNAL_URL")


def config_from_environment(tmp_path, **environ):
    """Config.HOST and Config.INTERNAL_URL as a fresh process reads them from exactly `environ`.

    config.py reads the environment once, at import, so each case needs a process of its own. It runs
    on a copy of config.py in an empty folder, so no .env file of the developer's takes part.
    """
    shutil.copy(ROOT / "config.py", tmp_path / "config.py")
    probe = "import json, config; print(json.dumps({'HOST': config.Config.HOST, " \
            "'INTERNAL_URL': config.Config.INTERNAL_URL}))"
    env = {"PATH": "/usr/bin:/bin", **environ}
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("environ, host, internal_url", [
    # The default: this computer only. A tunnel (cloudflared, Tailscale, ngrok) reaches 127.0.0.1.
    ({}, "127.0.0.1", "http://127.0.0.1:8000"),
    ({"HOST": ""}, "127.0.0.1", "http://127.0.0.1:8000"),
    ({"PORT": "8123"}, "127.0.0.1", "http://127.0.0.1:8123"),
    # Every address only when asked for; the servers still call each other over the loopback.
    ({"HOST": "0.0.0.0"}, "0.0.0.0", "http://127.0.0.1:8000"),
    ({"HOST": "::", "PORT": "8123"}, "::", "http://[::1]:8123"),
    # One given address: the servers call each other there, because that is where the server listens.
    ({"HOST": "192.0.2.7"}, "192.0.2.7", "http://192.0.2.7:8000"),
    ({"HOST": "0.0.0.0", "INTERNAL_URL": "http://bank.internal:9000/"}, "0.0.0.0", "http://bank.internal:9000"),
])
def test_paylab_listens_on_this_computer_only_unless_host_says_otherwise(tmp_path, environ, host, internal_url):
    """The demo logins are public: `make run` must not open them to the whole network by default."""
    assert config_from_environment(tmp_path, **environ) == {"HOST": host, "INTERNAL_URL": internal_url}


def test_the_readme_documents_host_in_its_configuration_table():
    """Listening on every address is a documented choice: HOST's row names the default and 0.0.0.0."""
    rows = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `HOST`")]
    assert len(rows) == 1, "no `HOST` row in the README's configuration table"
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert cells[1] == "`127.0.0.1`" and "0.0.0.0" in cells[2], rows[0]


# The VAPID placeholder warning --------------------------------------------------------------------


def build_app(tmp_path, name, **settings):
    """An app on its own instance folder (no migrations: start-up alone is what is tested)."""
    config = type("Config", (TestConfig,), settings)
    return create_app(config, instance_path=str(tmp_path / name))


def placeholder_warnings(caplog):
    return [record for record in caplog.records if PLACEHOLDER_WARNING in record.getMessage()]


@pytest.fixture
def fresh_warnings(monkeypatch):
    """Forget what this test process warned about already, so each test starts as a new process.

    Also listen to the app's logger again: Alembic's env.py configures logging from alembic.ini, which
    disables every logger that exists by then, so after any earlier test's migrations it says nothing.
    """
    import app.bank
    monkeypatch.setattr(app.bank, "_warned", set())
    monkeypatch.setattr(logging.getLogger("app"), "disabled", False)


@pytest.mark.parametrize("public_url", ["http://localhost:8000", "http://127.0.0.1:8123", "http://[::1]:8000"])
def test_no_vapid_warning_when_paylab_runs_on_this_computer_only(tmp_path, caplog, fresh_warnings, public_url):
    """On localhost no phone's push service is ever involved: the placeholder subject harms nobody."""
    with caplog.at_level(logging.WARNING):
        build_app(tmp_path, "instance", PUBLIC_URL=public_url, VAPID_SUBJECT=None)
    assert placeholder_warnings(caplog) == []


def test_the_vapid_warning_is_printed_once_per_process(tmp_path, caplog, fresh_warnings):
    """Behind a tunnel, a placeholder subject is worth one warning, not one per app the process builds."""
    settings = {"PUBLIC_URL": "https://paylab.trycloudflare.com", "VAPID_SUBJECT": "mailto:you@example.com"}
    with caplog.at_level(logging.WARNING):
        for name in ("first", "second", "third"):
            build_app(tmp_path, name, **settings)
    assert len(placeholder_warnings(caplog)) == 1


def test_no_vapid_warning_from_command_line_commands(tmp_path, caplog, fresh_warnings):
    """`make run` runs `flask db upgrade` and `flask seed` before the server: they send no push, so only
    the server warns (once per start, not three times). A CLI command builds the app inside click's context."""
    settings = {"PUBLIC_URL": "https://paylab.trycloudflare.com", "VAPID_SUBJECT": "mailto:you@example.com"}
    with caplog.at_level(logging.WARNING):
        with click.Context(click.Command("seed")):
            build_app(tmp_path, "cli", **settings)
        assert placeholder_warnings(caplog) == []
        build_app(tmp_path, "server", **settings)
    assert len(placeholder_warnings(caplog)) == 1


# Favicons -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/walkthrough/", "/shop/", "/bank/app/login"])
def test_every_site_has_a_favicon_that_loads(client, path):
    """A page without a favicon makes the browser ask for /favicon.ico: a 404 in the learner's console."""
    page = client.get(path)
    assert page.status_code == 200
    icon = re.search(r'<link rel="icon" href="([^"]+)"', page.get_data(as_text=True))
    assert icon, f"{path} links no favicon"
    answer = client.get(icon.group(1))
    assert answer.status_code == 200 and answer.mimetype == "image/svg+xml"


def test_a_second_start_migrates_nothing_and_hashes_no_password(tmp_path, seeded_instance, monkeypatch):
    """`make run` prepares the instance in its own process: on a fresh one it migrates and seeds, on a
    set-up one it finds both done without running Alembic's upgrade or hashing the demo password."""
    import flask_migrate

    from app.cli import migrations_at_head, prepare_instance
    from app.extensions import db

    from ..support import suite_database_settings
    on = lambda path, **copy: type("Config", (TestConfig,), suite_database_settings(path, **copy))  # noqa: E731
    fresh = create_app(on(tmp_path / "fresh"), instance_path=str(tmp_path / "fresh"))
    with fresh.app_context():
        assert not migrations_at_head(fresh)
    summary = prepare_instance(fresh)
    assert summary["demo_id"] == "created the demo PayLab ID"
    with fresh.app_context():
        assert migrations_at_head(fresh)
        db.session.remove()

    shutil.copytree(seeded_instance, tmp_path / "again")
    again = create_app(on(tmp_path / "again", copy_of=seeded_instance), instance_path=str(tmp_path / "again"))

    def refuse(*args, **kwargs):
        raise AssertionError("this work was already done")
    monkeypatch.setattr(flask_migrate, "upgrade", refuse)
    monkeypatch.setattr("app.idp.services.generate_password_hash", refuse)
    summary = prepare_instance(again)
    assert "demo_id" not in summary and summary["demo_paylab_id"]["email"] == "thandi@example.co.za"


def test_postgresql_pools_keep_a_classroom_deployment_under_the_servers_connection_limit(tmp_path):
    """Four databases per process: SQLAlchemy's default pools (5 + 10) let one process open 60 of
    PostgreSQL's 100 connections. Nothing connects here: the pools are only sized."""
    from app.extensions import db
    url = "postgresql+psycopg://postgres@127.0.0.1:1/paylab_{}"
    settings = {"DATABASE_URL": url.format("main"), "SHOP_DATABASE_URL": url.format("shop"),
                "BANK_DATABASE_URL": url.format("bank"), "IDP_DATABASE_URL": url.format("idp")}
    app = create_app(type("PostgresConfig", (TestConfig,), settings), instance_path=str(tmp_path / "instance"))
    with app.app_context():
        pools = [engine.pool for engine in db.engines.values()]
    per_process = sum(pool.size() + pool._max_overflow for pool in pools)
    assert len(pools) == 4 and per_process == 16  # 3 web processes and a worker: 64 at most
    assert all(pool._pre_ping for pool in pools)
    sqlite_app = create_app(TestConfig, instance_path=str(tmp_path / "sqlite"))
    assert sqlite_app.config["SQLALCHEMY_ENGINE_OPTIONS"] == {}  # make run: SQLAlchemy's own pooling
    assert all(isinstance(url, str) for url in sqlite_app.config["SQLALCHEMY_BINDS"].values())


@pytest.mark.parametrize("setting, value, says", [
    ("VAPID_PRIVATE_KEY", "not-a-key", "VAPID_PRIVATE_KEY"),
    ("BANK_PIN_PEPPER", "too-short", "BANK_PIN_PEPPER"),
    ("SOCKETIO_ASYNC_MODE", "eventlet", "SOCKETIO_ASYNC_MODE must be auto, threading or gevent"),
    ("SECRET_KEY_FILE", "/nonexistent/secret", "SECRET_KEY_FILE=/nonexistent/secret: cannot read it"),
    ("INSTRUCTOR_PASSWORD", "letmein", "INSTRUCTOR_PASSWORD is 7 characters: use at least 12"),
])
@pytest.mark.parametrize("command", [["wsgi.py"], ["-m", "flask", "--app", "wsgi", "release"]])
def test_a_setting_that_stops_the_start_is_named_in_one_line_without_a_traceback(tmp_path, setting, value, says,
                                                                                command):
    """`make run`, `flask …` and gunicorn import wsgi.py: a host's mistyped key is a line to act on."""
    env = {key: val for key, val in os.environ.items() if not key.startswith(("SOCKETIO", "DATABASE", "VAPID"))}
    env.update({setting: value, "INSTANCE_PATH": str(tmp_path / "instance"), "PORT": "1"})
    result = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0
    assert "PayLab cannot start:" in result.stderr and says in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]


@pytest.mark.parametrize("password, starts", [(None, True), ("x" * 11, False), ("x" * 12, True),
                                              ("Pässwörd-€-ñ", True)])
def test_the_instructors_password_has_a_floor(tmp_path, password, starts):
    """Unset turns the view off; set, it is the one thing between a guesser and every learner's phone."""
    config = type("Config", (TestConfig,), {"INSTRUCTOR_PASSWORD": password})
    if starts:
        create_app(config, instance_path=str(tmp_path / "instance"))
    else:
        with pytest.raises(StartupError, match="at least 12"):
            create_app(config, instance_path=str(tmp_path / "instance"))

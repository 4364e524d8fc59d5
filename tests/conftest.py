"""Fixtures shared by every layer: `app`, `client` and `runner` (no server), and `live` (a real one)."""
import itertools
import shutil

import pytest

from app.bank import services as bank_services
from app.bank import cards as bank_cards
from app.extensions import db

from .support import (SUITE_ON_POSTGRESQL, FreshContextClient, LiveServer, drop_suite_databases, make_app,
                      suite_database_settings)

_usernames = itertools.count(1)


def pytest_runtest_setup(item):
    """On PostgreSQL, a test of SQLite's own files or locking has nothing to test: skipped, saying why."""
    marker = item.get_closest_marker("sqlite_only")
    if marker is not None and SUITE_ON_POSTGRESQL:
        pytest.skip(f"SQLite only: {marker.args[0]}")


@pytest.fixture(scope="session", autouse=True)
def suite_databases():
    """On PostgreSQL (PAYLAB_TEST_DATABASE=postgresql): every database the run made is dropped at its end."""
    yield
    drop_suite_databases()


@pytest.fixture(scope="session")
def seeded_instance(tmp_path_factory):
    """An instance folder migrated and seeded once per run (seeding hashes passwords: about 0.4 s)."""
    path = tmp_path_factory.mktemp("seeded-template") / "instance"
    template = make_app(path)
    with template.app_context():
        for engine in db.engines.values():
            engine.dispose()  # close the SQLite files (folding the WAL in) before they are copied
    return path


@pytest.fixture
def app(tmp_path, seeded_instance):
    """A migrated, seeded app on its own SQLite files, app context pushed; no server, no worker.

    Each test gets a fresh copy of the seeded template. The pushed context is shared by
    test-client requests, so a test that talks to two servers should use one context per request.
    """
    instance = tmp_path / "instance"
    shutil.copytree(seeded_instance, instance)
    suite_database_settings(instance, copy_of=seeded_instance)  # on PostgreSQL: copies of the template's
    app = make_app(instance)  # migrations are at head and the seed finds everything: no-ops
    with app.app_context():
        yield app
        db.session.remove()
    drop_suite_databases(instance)


@pytest.fixture
def client(app):
    return FreshContextClient(app, app.test_client())


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def live(tmp_path_factory):
    """One real PayLab on a free port for the integration and browser tests."""
    server = LiveServer(tmp_path_factory.mktemp("live") / "instance").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def push_service():
    """The tests' own RFC 8030 push service on a free port (see tests/pushservice.py)."""
    from .pushservice import LocalPushService
    service = LocalPushService().start()
    yield service
    service.stop()


def new_customer(app, balance=500000, pin="1234", password="correct-horse"):
    """Open a fresh bank customer; returns (username, password, pin, card_number)."""
    username = f"learner{next(_usernames)}"
    with app.app_context():
        customer = bank_services.create_customer(username, password, pin, balance)
        card = bank_cards.customer_card(customer).number
        db.session.remove()
    return username, password, pin, card


@pytest.fixture
def customer_factory(live):
    return lambda **kwargs: new_customer(live.app, **kwargs)

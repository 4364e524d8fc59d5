"""Fixtures shared by every layer: `app`, `client` and `runner` (no server), and `live` (a real one)."""
import itertools

import pytest

from app.bank import services as bank_services
from app.extensions import db

from .support import LiveServer, make_app

_usernames = itertools.count(1)


@pytest.fixture
def app(tmp_path):
    """A migrated and seeded app on temporary SQLite files; no server, no background worker."""
    app = make_app(tmp_path / "instance")
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def live(tmp_path_factory):
    """One real PayLab on a free port for the integration and browser tests."""
    server = LiveServer(tmp_path_factory.mktemp("live") / "instance").start()
    yield server
    server.stop()


def new_customer(app, balance=500000, pin="1234", password="correct-horse"):
    """Open a fresh bank customer; returns (username, password, pin, card_number)."""
    username = f"learner{next(_usernames)}"
    with app.app_context():
        customer = bank_services.create_customer(username, password, pin, balance)
        card = bank_services.customer_card(customer).number
        db.session.remove()
    return username, password, pin, card


@pytest.fixture
def customer_factory(live):
    return lambda **kwargs: new_customer(live.app, **kwargs)

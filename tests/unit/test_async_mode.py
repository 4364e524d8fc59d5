"""SOCKETIO_ASYNC_MODE: threads by default; gevent only where no database is SQLite."""
import pytest

from app import create_app
from app.extensions import socketio_async_mode
from config import TestConfig


def test_the_default_is_threading(app):
    assert app.extensions["socketio"].async_mode == "threading"


def test_gevent_is_refused_with_sqlite_before_anything_starts(tmp_path):
    """SQLite's busy handler sleeps inside C: under gevent it stalls the only thread, and with it every
    request, for the whole busy timeout (the bench hung so). A clear refusal at start-up instead."""
    config = type("GeventOnSqlite", (TestConfig,), {"SOCKETIO_ASYNC_MODE": "gevent"})
    with pytest.raises(RuntimeError, match="gevent needs PostgreSQL for every database"):
        create_app(config, instance_path=str(tmp_path / "instance"))


def test_an_empty_setting_is_the_default():
    assert socketio_async_mode({"SOCKETIO_ASYNC_MODE": ""}) == "threading"


@pytest.mark.parametrize("mode", ["eventlet", "asyncio", "gevent_uwsgi"])
def test_modes_that_were_never_measured_are_refused(mode):
    with pytest.raises(RuntimeError, match="must be one of threading, gevent"):
        socketio_async_mode({"SOCKETIO_ASYNC_MODE": mode})


def test_gevent_with_postgresql_everywhere_is_accepted():
    uri = "postgresql+psycopg://postgres@127.0.0.1/paylab"
    assert socketio_async_mode({"SOCKETIO_ASYNC_MODE": "gevent", "SQLALCHEMY_DATABASE_URI": uri,
                                "SQLALCHEMY_BINDS": {"shop": uri, "bank": uri, "idp": uri}}) == "gevent"
    with pytest.raises(RuntimeError):
        socketio_async_mode({"SOCKETIO_ASYNC_MODE": "gevent", "SQLALCHEMY_DATABASE_URI": uri,
                             "SQLALCHEMY_BINDS": {"shop": uri, "bank": "sqlite:////tmp/bank.sqlite", "idp": uri}})

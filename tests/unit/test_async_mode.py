"""SOCKETIO_ASYNC_MODE: auto by default (gevent where gevent patched the process, else threads); gevent
only where no database is SQLite."""
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
    with pytest.raises(RuntimeError, match="must be auto, threading or gevent"):
        socketio_async_mode({"SOCKETIO_ASYNC_MODE": mode})


def test_gevent_with_postgresql_everywhere_is_accepted():
    uri = "postgresql+psycopg://postgres@127.0.0.1/paylab"
    assert socketio_async_mode({"SOCKETIO_ASYNC_MODE": "gevent", "SQLALCHEMY_DATABASE_URI": uri,
                                "SQLALCHEMY_BINDS": {"shop": uri, "bank": uri, "idp": uri}}) == "gevent"
    with pytest.raises(RuntimeError):
        socketio_async_mode({"SOCKETIO_ASYNC_MODE": "gevent", "SQLALCHEMY_DATABASE_URI": uri,
                             "SQLALCHEMY_BINDS": {"shop": uri, "bank": "sqlite:////tmp/bank.sqlite", "idp": uri}})


def test_auto_follows_the_server_the_process_runs_in(monkeypatch):
    """`gunicorn -k gevent wsgi:app` patches the standard library before it loads the app: the app then
    serves its sockets as greenlets without being told (on PostgreSQL); a plain process gets threads."""
    from gevent import monkey
    uri = "postgresql+psycopg://postgres@127.0.0.1/paylab"
    on_postgresql = {"SQLALCHEMY_DATABASE_URI": uri, "SQLALCHEMY_BINDS": {"shop": {"url": uri}, "bank": uri, "idp": uri}}
    assert socketio_async_mode({"SOCKETIO_ASYNC_MODE": "auto", **on_postgresql}) == "threading"  # this process
    monkeypatch.setattr(monkey, "is_module_patched", lambda name: name == "socket")
    assert socketio_async_mode({"SOCKETIO_ASYNC_MODE": "auto", **on_postgresql}) == "gevent"
    with pytest.raises(RuntimeError, match="gevent needs PostgreSQL"):  # patched, but on SQLite: said at start-up
        socketio_async_mode({"SOCKETIO_ASYNC_MODE": "auto", "SQLALCHEMY_DATABASE_URI": "sqlite:///x.sqlite"})

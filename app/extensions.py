"""Flask extensions, created unbound and bound to an app in `create_app`."""
from flask_migrate import Migrate
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData

# Named constraints, so that later migrations (and SQLite batch mode) can refer to them.
NAMING_CONVENTION = {"ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
                     "ck": "ck_%(table_name)s_%(constraint_name)s",
                     "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s", "pk": "pk_%(table_name)s"}
db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
migrate = Migrate()
csrf = CSRFProtect()


def create_socketio(app):
    """A SocketIO server for this app.

    Unlike the others, Flask-SocketIO keeps one server per object, and the last
    `init_app` wins; the tests run several apps in one process, so each app gets
    its own object, reachable as `app.extensions["socketio"]`.
    """
    return SocketIO(
        app,
        async_mode=socketio_async_mode(app.config),
        message_queue=app.config.get("SOCKETIO_MESSAGE_QUEUE"),
        manage_session=False,  # each server reads its own cookie on connect
        cors_allowed_origins=[app.config["PUBLIC_URL"], app.config["INTERNAL_URL"]],
    )


ASYNC_MODES = ("threading", "gevent")


def socketio_async_mode(config):
    """SOCKETIO_ASYNC_MODE, checked: gevent only where no database is SQLite.

    SQLite waits for a lock inside C (its busy handler sleeps), which blocks gevent's one OS thread:
    the greenlet holding the lock never runs again to release it, and every request stalls for the
    busy timeout. `make bench --async-mode gevent` on the embedded default hung exactly so (a
    cancel's UPDATE asleep in the busy handler, the whole process with it).
    """
    mode = config.get("SOCKETIO_ASYNC_MODE") or "threading"
    if mode not in ASYNC_MODES:
        raise RuntimeError(f"SOCKETIO_ASYNC_MODE must be one of {', '.join(ASYNC_MODES)}, not {mode!r}.")
    uris = [config.get("SQLALCHEMY_DATABASE_URI") or "", *(config.get("SQLALCHEMY_BINDS") or {}).values()]
    if mode == "gevent" and any(str(uri).startswith("sqlite") for uri in uris):
        raise RuntimeError("SOCKETIO_ASYNC_MODE=gevent needs PostgreSQL for every database: SQLite's lock "
                           "waits block gevent's only thread. Use the default (threading) with SQLite.")
    return mode

"""Flask extensions, created unbound and bound to an app in `create_app`."""
from urllib.parse import urlsplit, urlunsplit

from flask_migrate import Migrate
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData

from config import StartupError

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
    message_queue = app.config.get("SOCKETIO_MESSAGE_QUEUE") or None
    if message_queue:
        check_message_queue(message_queue)
    return SocketIO(
        app,
        async_mode=socketio_async_mode(app.config),
        message_queue=message_queue,
        channel=app.config.get("SOCKETIO_CHANNEL") or "paylab",
        manage_session=False,  # each server reads its own cookie on connect
        cors_allowed_origins=[app.config["PUBLIC_URL"], app.config["INTERNAL_URL"]],
    )


class MessageQueueUnavailable(StartupError, RuntimeError):
    pass


class AsyncModeError(StartupError, RuntimeError):
    pass


def check_message_queue(url, timeout=3.0):
    """Refuse to start without the message queue SOCKETIO_MESSAGE_QUEUE names, saying why.

    Flask-SocketIO starts without it (the redis package missing, or Redis not answering) and then
    drops every event another process should have sent on: the laptops of the other processes never
    hear that an order was paid. A start-up that fails and says why is the kinder answer.
    """
    shown = _without_password(url)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise MessageQueueUnavailable(f"SOCKETIO_MESSAGE_QUEUE={shown}: PayLab's message queue is Redis "
                                      "(redis://host:6379/0, rediss://… or unix://…).")
    try:
        import redis
    except ImportError:
        raise MessageQueueUnavailable("SOCKETIO_MESSAGE_QUEUE is set, but the redis package is not "
                                      "installed: pip install -r requirements.txt") from None
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise MessageQueueUnavailable(f"SOCKETIO_MESSAGE_QUEUE={shown}: Redis does not answer ({exc}). "
                                      "Start Redis, or unset SOCKETIO_MESSAGE_QUEUE for one process.") from None
    finally:
        client.close()


def _without_password(url):
    """The URL as a log line may show it: any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


ASYNC_MODES = ("threading", "gevent")


def detected_async_mode():
    """gevent where the standard library has been patched for it (`gunicorn -k gevent` does so before it
    loads the app, and wsgi.py when asked), else threading: the server the process is running in."""
    try:
        from gevent import monkey
    except ImportError:
        return "threading"
    return "gevent" if monkey.is_module_patched("socket") else "threading"


def socketio_async_mode(config):
    """SOCKETIO_ASYNC_MODE, checked: gevent only where no database is SQLite.

    SQLite waits for a lock inside C (its busy handler sleeps), which blocks gevent's one OS thread:
    the greenlet holding the lock never runs again to release it, and every request stalls for the
    busy timeout. `make bench --async-mode gevent` on the embedded default hung exactly so (a
    cancel's UPDATE asleep in the busy handler, the whole process with it).
    """
    mode = config.get("SOCKETIO_ASYNC_MODE") or "auto"
    if mode == "auto":
        mode = detected_async_mode()
    if mode not in ASYNC_MODES:
        raise AsyncModeError(f"SOCKETIO_ASYNC_MODE must be auto, {' or '.join(ASYNC_MODES)}, not {mode!r}.")
    binds = (config.get("SQLALCHEMY_BINDS") or {}).values()  # a URL, or a dict with its engine's options
    uris = [config.get("SQLALCHEMY_DATABASE_URI") or "", *(bind["url"] if isinstance(bind, dict) else bind
                                                          for bind in binds)]
    if mode == "gevent" and any(str(uri).startswith("sqlite") for uri in uris):
        raise AsyncModeError("SOCKETIO_ASYNC_MODE=gevent needs PostgreSQL for every database: SQLite's lock "
                           "waits block gevent's only thread. Use the default (threading) with SQLite.")
    return mode

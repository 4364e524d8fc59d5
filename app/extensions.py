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
        async_mode="threading",
        message_queue=app.config.get("SOCKETIO_MESSAGE_QUEUE"),
        manage_session=False,  # each server reads its own cookie on connect
        cors_allowed_origins=[app.config["PUBLIC_URL"], app.config["INTERNAL_URL"]],
    )

"""PayLab: a shop, a bank and an identity provider: three servers in one Flask app."""
from pathlib import Path

from flask import Flask, redirect, send_from_directory
from werkzeug.middleware.proxy_fix import ProxyFix

from config import Config

from .common import sqlite  # noqa: F401  (registers the SQLite tuning)
from .common.converters import DatabaseIdConverter, PublicIdConverter
from .common.json_provider import BoundedJSONProvider
from .common.errors import register_error_handlers
from .common.headers import init_security_headers
from .common.instance import apply_embedded_defaults
from .common.instructor import check_instructor_password
from .common.log_redaction import install_log_redaction
from .common.process_bus import ProcessBus
from .common.realtime import CLOSE_SOCKETS, close_sockets_in_room
from .common.money import format_money
from .common.ratelimit import init_rate_limits
from .common.sessions import PerServerSessionInterface
from .common.static_files import init_static_files, serves_files_from
from .common.tracing import init_request_tracing
from .extensions import create_socketio, csrf, db, migrate

ROOT = Path(__file__).resolve().parent.parent
SOCKET_IO_CLIENT = ROOT / "node_modules" / "socket.io-client" / "dist"
COMMON_STATIC = Path(__file__).resolve().parent / "common" / "static"


def create_app(config_class=Config, instance_path=None):
    """Build the app: configuration, extensions, the servers asked for, then shared routes."""
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    app.config.from_object(config_class)
    apply_embedded_defaults(app)
    check_instructor_password(app.config)
    install_log_redaction()  # request lines carry codes and states: keep them out of the logs
    app.session_interface = PerServerSessionInterface()
    app.url_map.converters["int"] = DatabaseIdConverter
    app.url_map.converters["public_id"] = PublicIdConverter
    app.json = BoundedJSONProvider(app)
    if app.config["PROXY_FIX_HOPS"]:  # opt-in: only behind a proxy or tunnel you run
        hops = app.config["PROXY_FIX_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    create_socketio(app)
    init_process_bus(app)
    register_error_handlers(app)
    init_security_headers(app)
    init_request_tracing(app)
    app.jinja_env.filters["money"] = format_money

    servers = {name.strip() for name in app.config["SERVERS"].split(",") if name.strip()}
    if "idp" in servers:
        from .idp import init_idp
        init_idp(app)
    if "bank" in servers:
        from .bank import init_bank
        init_bank(app)
    if "shop" in servers:
        from .shop import init_shop
        init_shop(app)

    from .walkthrough import init_walkthrough
    init_walkthrough(app)
    from .lab import init_lab
    init_lab(app)

    from .cli import register_cli
    register_cli(app)
    init_rate_limits(app)  # after every view is registered: it wraps the marked ones

    @app.route("/static/common/<path:filename>")
    @serves_files_from(COMMON_STATIC)
    def common_static(filename):
        """Browser code that more than one server's pages use (one copy, not one per server)."""
        return send_from_directory(COMMON_STATIC, filename)

    @app.route("/static/vendor/socket.io.min.js")
    @serves_files_from(SOCKET_IO_CLIENT, "socket.io.min.js")
    def socket_io_client():
        """The socket.io browser client, installed from npm at setup (never a CDN)."""
        return send_from_directory(SOCKET_IO_CLIENT, "socket.io.min.js")

    @app.route("/")
    def index():
        return redirect("/shop/" if "shop" in servers else "/bank/app/" if "bank" in servers else "/idp/")

    init_static_files(app)  # last: it finds every route that serves files
    return app


def init_process_bus(app):
    """Messages to every process (app/common/process_bus.py), heard from the first request on."""
    bus = app.extensions["process_bus"] = ProcessBus(app)
    bus.on(CLOSE_SOCKETS, close_sockets_in_room)
    if bus.url is not None:  # several processes: listen to the others from the first request on (a socket's
        serve = app.wsgi_app  # too, which no view sees), not at import nor in CLI runs

        def wsgi_app(environ, start_response):
            if not bus.listening:
                bus.start()
            return serve(environ, start_response)
        app.wsgi_app = wsgi_app


def start_background_workers(app):
    """Start the servers' background workers now (the dev server calls this at start-up)."""
    for name in ("bank_webhook_worker", "bank_push_worker", "bank_expiry_worker"):
        worker = app.extensions.get(name)
        if worker is not None and app.config["BACKGROUND_WORKERS"]:
            worker.start()

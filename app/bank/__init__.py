"""The bank: customers, cards, the ledger, the merchant API, the token server and the bank app."""
import threading
from pathlib import Path

from flask import Blueprint

from ..common.errors import serve_json_errors_under
from ..common.sessions import serve_sessions_under

PWA_DIR = Path(__file__).resolve().parent.parent.parent / "pwa"

_warned = set()
bp = Blueprint("bank", __name__, url_prefix="/bank", template_folder="templates")


def init_bank(app):
    """Register the bank's routes, socket namespace, token server, CLI and worker on `app`."""
    from . import api, app_routes, device_routes, merchant_routes, pwa_routes  # noqa: F401  (routes register on bp)
    from ..common.http import HttpSettings
    from .cli import bank_cli
    from .events import BankNamespace
    from .oauth2 import init_oauth2
    from .push import PushSender, PushWorker
    from .vapid import default_subject, load_vapid, validate_vapid_subject
    from .worker import BankWorker, ExpiryWorker

    init_oauth2(app)
    app.register_blueprint(bp)
    serve_sessions_under(app, "/bank", "bank")
    serve_sessions_under(app, "/bank/merchant", "bank", session_name="merchant")
    serve_json_errors_under(app, "/bank/api/", "/bank/oauth/", "/bank/app/api/")
    app.cli.add_command(bank_cli)
    app.extensions["socketio"].on_namespace(BankNamespace("/bank"))

    vapid = app.extensions["bank_vapid"] = load_vapid(app.instance_path)
    subject, warnings = validate_vapid_subject(app.config.get("VAPID_SUBJECT") or default_subject(app.config["PUBLIC_URL"]))
    for warning in warnings:
        if warning not in _warned:  # once per process, not once per app
            _warned.add(warning)
            app.logger.warning(warning)
    sender = PushSender(vapid, subject, HttpSettings.from_config(app.config, sender="bank-push"),
                        app.config["PUSH_TIMEOUT_SECONDS"])
    workers = [BankWorker(app), PushWorker(app, sender), ExpiryWorker(app)]
    app.extensions["bank_worker"], app.extensions["bank_push_worker"], app.extensions["bank_expiry_worker"] = workers
    if app.config["BACKGROUND_WORKERS"]:
        _start_workers_on_first_request(app, workers)


def _start_workers_on_first_request(app, workers):
    """Start the workers with the first request (or `start_background_workers`), never at import or in CLI runs."""
    started = threading.Event()

    @app.before_request
    def _ensure_workers():
        if not started.is_set():
            started.set()
            for worker in workers:
                worker.start()

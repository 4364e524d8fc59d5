"""The bank: customers, cards, the ledger, the merchant API, the token server and the bank app."""
import threading
from pathlib import Path

from flask import Blueprint

PWA_DIR = Path(__file__).resolve().parent.parent.parent / "pwa"

bp = Blueprint("bank", __name__, url_prefix="/bank", template_folder="templates")


def init_bank(app):
    """Register the bank's routes, socket namespace, token server, CLI and worker on `app`."""
    from . import api, app_routes, merchant_routes  # noqa: F401  (routes register on bp)
    from .cli import bank_cli
    from .events import BankNamespace
    from .oauth2 import init_oauth2
    from .worker import BankWorker

    init_oauth2(app)
    app.register_blueprint(bp)
    app.cli.add_command(bank_cli)
    app.extensions["socketio"].on_namespace(BankNamespace("/bank"))
    worker = app.extensions["bank_worker"] = BankWorker(app)
    if app.config["BACKGROUND_WORKERS"]:
        _start_worker_on_first_request(app, worker)


def _start_worker_on_first_request(app, worker):
    """Start the worker with the first request (or `start_background_workers`), never at import or in CLI runs."""
    started = threading.Event()

    @app.before_request
    def _ensure_worker():
        if not started.is_set():
            started.set()
            worker.start()

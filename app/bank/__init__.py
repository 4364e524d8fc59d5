"""The bank: customers, cards, the ledger, and the four audiences it serves.

One package per audience, each with its own blueprint under /bank:
- `api/`     the merchant API and its token server (JSON only, no CSRF: a bearer token is the proof);
- `app/`     the customer's phone app: its pages, and their JSON under /bank/app/api/;
- `portal/`  the merchant portal at /bank/merchant/;
- `outbox/`  webhook and push delivery, and the workers that run it (no routes).
The domain (models, ledger, services, cards, devices, passkeys, merchants) sits at
this package's root and needs no request.
"""
import threading

import click
from flask import Blueprint

from ..common.errors import serve_json_errors_under
from ..common.sessions import serve_sessions_under
from .api import bp as api_bp
from .app import bp as app_bp
from .instructor import bp as instructor_bp
from .portal import bp as portal_bp

_warned = set()
bp = Blueprint("bank", __name__, url_prefix="/bank", template_folder="templates")
for audience in (api_bp, app_bp, portal_bp, instructor_bp):  # once, at import: a blueprint is registered on many apps in tests
    bp.register_blueprint(audience)


def init_bank(app):
    """Register the bank's blueprints, socket namespace, token server, CLI and workers on `app`."""
    from ..common.http import HttpSettings
    from .api.oauth2 import init_oauth2
    from .app.events import BankNamespace
    from .cli import bank_cli
    from .notify import WAKE, wake_worker_here
    from .outbox.push import PUSH_SEND_STEP, PushSender, PushWorker
    from .outbox.vapid import default_subject, load_vapid, on_this_computer_only, validate_vapid_subject
    from .outbox.workers import ExpiryWorker, WebhookWorker
    from .pins import parse_peppers

    init_oauth2(app)
    app.register_blueprint(bp)
    serve_sessions_under(app, "/bank", "bank")
    serve_sessions_under(app, "/bank/merchant", "bank", session_name="merchant")
    # Blueprint handlers answer what their views raise; these prefixes also cover URLs that match no route.
    serve_json_errors_under(app, "/bank/api/", "/bank/oauth/", "/bank/app/api/", "/bank/instructor/api/")
    app.cli.add_command(bank_cli)
    app.extensions["socketio"].on_namespace(BankNamespace("/bank"))

    # Checked here, at start-up: a mistyped BANK_PIN_PEPPER must stop the server, not each approval.
    app.extensions["bank_pin_peppers"] = parse_peppers(app.config["BANK_PIN_PEPPER"])
    vapid = app.extensions["bank_vapid"] = load_vapid(app.config, app.instance_path)
    subject, warnings = validate_vapid_subject(app.config.get("VAPID_SUBJECT") or default_subject(app.config["PUBLIC_URL"]))
    # Only where a push may go out: not on localhost (no phone reaches it), not in a CLI command (its
    # app starts no worker; `make run` runs two before the server, which warns once for them all).
    if not on_this_computer_only(app.config["PUBLIC_URL"]) and click.get_current_context(silent=True) is None:
        for warning in warnings:
            if warning not in _warned:  # once per process, not once per app
                _warned.add(warning)
                app.logger.warning(warning)
    push_http = HttpSettings.from_config(app.config, sender="bank", receiver="push", step=PUSH_SEND_STEP)
    sender = PushSender(vapid, subject, push_http, app.config["PUSH_TIMEOUT_SECONDS"])
    workers = [WebhookWorker(app), PushWorker(app, sender), ExpiryWorker(app)]
    app.extensions["bank_webhook_worker"], app.extensions["bank_push_worker"], app.extensions["bank_expiry_worker"] = workers
    app.extensions["process_bus"].on(WAKE, wake_worker_here)  # a decision in another process: act now
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

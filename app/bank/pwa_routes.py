"""The installable side of the bank app: manifest, service worker, offline shell and the phone guide."""
from flask import render_template, send_from_directory

from . import PWA_DIR, bp


@bp.get("/app/manifest.webmanifest")
def app_manifest():
    response = send_from_directory(PWA_DIR, "manifest.webmanifest", max_age=0)
    response.mimetype = "application/manifest+json"
    return response


@bp.get("/app/sw.js")
def app_service_worker():
    """Served from /bank/app/ so that its scope is the app; never cached, so updates arrive."""
    response = send_from_directory(PWA_DIR, "sw.js", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/app/offline")
def app_offline_shell():
    return send_from_directory(PWA_DIR, "offline.html", max_age=0)


@bp.get("/app/setup")
def app_setup():
    return render_template("bank/setup.html")

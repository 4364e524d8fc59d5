"""The installable side of the bank app: its static files, manifest, service worker, offline shell and phone guide."""
from flask import render_template, send_from_directory

from . import PWA_DIR, bp


@bp.route("/static/<path:filename>")
def pwa_file(filename):
    """The bank app's static side lives in pwa/ (CSS, JS modules, icons)."""
    return send_from_directory(PWA_DIR, filename, max_age=0)


@bp.get("/manifest.webmanifest")
def manifest():
    response = send_from_directory(PWA_DIR, "manifest.webmanifest", max_age=0)
    response.mimetype = "application/manifest+json"
    return response


@bp.get("/sw.js")
def service_worker():
    """Served from /bank/app/ so that its scope is the app; never cached, so updates arrive."""
    response = send_from_directory(PWA_DIR, "sw.js", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/offline")
def offline_shell():
    return send_from_directory(PWA_DIR, "offline.html", max_age=0)


@bp.get("/setup")
def setup():
    return render_template("bank/setup.html")

"""The installable side of the bank app: its static files, manifest, service worker, offline shell and phone guide."""
import shlex
from urllib.parse import urlsplit

from flask import current_app, render_template, send_from_directory

from config import DEFAULT_HOST, DEFAULT_PORT, EVERY_ADDRESS, listen_url

from ..outbox.vapid import InvalidVapidSubject, validate_vapid_subject
from . import PWA_DIR, bp

# What the guide shows until the learner has their own: the tunnel prints the one, they own the other.
TUNNEL_ADDRESS = "https://your-tunnel-address"
YOUR_SUBJECT = "mailto:you@your-domain"


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
    """The phone guide, its commands written for where this PayLab really runs."""
    return render_template("bank/setup.html", **tunnel_guide(current_app.config))


def tunnel_guide(config):
    """Where a tunnel must forward to (INTERNAL_URL: where we listen), and how to restart PayLab behind it.

    The restart keeps this instance's own address settings (PORT, a HOST or INTERNAL_URL of its own), so
    the tunnel still reaches it, and sets the tunnel's: PUBLIC_URL, PROXY_FIX_HOPS and a real VAPID_SUBJECT.
    """
    local = urlsplit(config["INTERNAL_URL"])
    port = local.port or (443 if local.scheme == "https" else 80)
    behind_tunnel = config["PUBLIC_URL"].startswith("https://")
    settings = {}
    if config["PORT"] != DEFAULT_PORT:
        settings["PORT"] = config["PORT"]
    if config["HOST"] not in (DEFAULT_HOST, *EVERY_ADDRESS):
        settings["HOST"] = config["HOST"]
    if config["INTERNAL_URL"] != listen_url(config["HOST"], config["PORT"]):
        settings["INTERNAL_URL"] = config["INTERNAL_URL"]
    settings["PUBLIC_URL"] = config["PUBLIC_URL"] if behind_tunnel else TUNNEL_ADDRESS
    settings["PROXY_FIX_HOPS"] = config["PROXY_FIX_HOPS"] or 1
    settings["VAPID_SUBJECT"] = real_vapid_subject(config.get("VAPID_SUBJECT")) or YOUR_SUBJECT
    restart = " ".join(f"{name}={shlex.quote(str(value))}" for name, value in settings.items()) + " make run"
    return {"local_url": config["INTERNAL_URL"], "port": port, "public_url": config["PUBLIC_URL"],
            "behind_tunnel": behind_tunnel, "restart_command": restart}


def real_vapid_subject(subject):
    """VAPID_SUBJECT if it is set and push services (Apple's too) accept it, else None."""
    try:
        subject, warnings = validate_vapid_subject(subject)
    except InvalidVapidSubject:
        return None
    return None if warnings else subject

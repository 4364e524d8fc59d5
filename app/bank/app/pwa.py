"""The installable side of the bank app: its static files, manifest, service worker, offline shell and phone guide."""
import hashlib
import json
import re
import shlex
from urllib.parse import urlsplit

from flask import current_app, render_template, request, send_from_directory

from config import DEFAULT_HOST, DEFAULT_PORT, EVERY_ADDRESS, listen_url

from ...common.static_files import serves_files_from, versioned_url
from ..outbox.vapid import InvalidVapidSubject, validate_vapid_subject
from . import PWA_DIR, bp

# What the guide shows until the learner has their own: the tunnel prints the one, they own the other.
TUNNEL_ADDRESS = "https://your-tunnel-address"
YOUR_SUBJECT = "mailto:you@your-domain"


# The service worker's precache list and its cache's name, as written in pwa/sw.js.
SHELL_LIST = re.compile(r"^const SHELL = (\[.*?\]);$", re.MULTILINE | re.DOTALL)
SHELL_CACHE_NAME = re.compile(r'^const SHELL_CACHE = "([\w-]+)";', re.MULTILINE)


@bp.route("/static/<path:filename>")
@serves_files_from(PWA_DIR)
def pwa_file(filename):
    """The bank app's static side lives in pwa/ (CSS, JS modules, icons). Its caching: common/static_files.py."""
    return send_from_directory(PWA_DIR, filename)


@bp.get("/manifest.webmanifest")
@serves_files_from(PWA_DIR, "manifest.webmanifest")
def manifest():
    """Linked with its version like any file: the app is known by the manifest's "id", not by its URL."""
    response = send_from_directory(PWA_DIR, "manifest.webmanifest")
    response.mimetype = "application/manifest+json"
    return response


@bp.get("/sw.js")
def service_worker():
    """Served from /bank/app/ so that its scope is the app; never long-cached, so updates arrive.

    Its precache list is written in as it is served: every URL with its file's version, and the cache named
    after them. A changed file thus changes this script, so the browser installs the new worker, which
    fills a new cache (its activate deletes the old one): no cache name to bump by hand.
    """
    script = precache_in_step((PWA_DIR / "sw.js").read_text(encoding="utf-8"))
    response = current_app.response_class(script, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"  # browsers revalidate it: a 304 while nothing changed
    # Weak: the same for the plain and the compressed bytes, so the 304 comes before any compression.
    response.set_etag(hashlib.sha256(script.encode()).hexdigest()[:32], weak=True)
    return response.make_conditional(request)


def precache_in_step(script):
    """sw.js with its SHELL list versioned and SHELL_CACHE suffixed with a digest of those versions."""
    shell = [versioned_url(path) for path in json.loads(SHELL_LIST.search(script).group(1))]
    digest = hashlib.sha256("\n".join(shell).encode()).hexdigest()[:12]
    script = SHELL_LIST.sub(lambda match: f"const SHELL = {json.dumps(shell)};", script, count=1)
    return SHELL_CACHE_NAME.sub(lambda match: f'const SHELL_CACHE = "{match.group(1)}-{digest}";', script, count=1)


@bp.get("/offline")
@serves_files_from(PWA_DIR, "offline.html")
def offline_shell():
    """What the service worker shows for a page when the bank is out of reach (it precaches this one)."""
    return send_from_directory(PWA_DIR, "offline.html")


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

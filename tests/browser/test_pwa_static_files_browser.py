"""The bank app's static files in a real browser: a second visit loads versioned files from the cache,
text arrives compressed, and a changed precached file brings a new service worker with a fresh cache."""
import shutil
import threading

from playwright.sync_api import expect

from app.bank.app import PWA_DIR

from ..support import LiveServer, wait_for
from ..unit.test_static_files import sha12
from .test_pwa_browser import SW_READY

CACHE_NAMES = "async () => (await caches.keys()).filter((name) => name.startsWith('baobab-shell')).sort()"


class RequestLog:
    """WSGI middleware: every path (with its query) that reached the server, in order."""

    def __init__(self, wsgi_app):
        self.wsgi_app, self.seen, self.lock = wsgi_app, [], threading.Lock()

    def __call__(self, environ, start_response):
        query = environ.get("QUERY_STRING")
        with self.lock:
            self.seen.append(environ["PATH_INFO"] + (f"?{query}" if query else ""))
        return self.wsgi_app(environ, start_response)

    def since(self, mark):
        with self.lock:
            return self.seen[mark:]


def test_a_second_visit_takes_versioned_files_from_the_cache(tmp_path, browser, playwright_instance):
    server = LiveServer(tmp_path / "instance")
    log = server.app.wsgi_app = RequestLog(server.app.wsgi_app)
    server.start()
    context = browser.new_context(**playwright_instance.devices["Pixel 7"])
    try:
        page = context.new_page()
        encodings = {}
        page.on("response", lambda response: encodings.setdefault(
            response.url.split("?")[0].rsplit("/", 1)[-1], response.headers.get("content-encoding")))
        page.goto(f"{server.url}/bank/app/login")
        page.wait_for_function(SW_READY)
        # brotli where the browser offers it (Chromium does on https and localhost), else gzip
        assert {encodings[name] for name in ("login", "bank.css", "form-errors.js")} <= {"br", "gzip"}, encodings
        first = log.since(0)
        assert any(path.startswith("/bank/app/static/css/bank.css?v=") for path in first)
        assert any(path.startswith("/static/common/js/form-errors.js?v=") for path in first)

        mark = len(log.seen)
        page.goto(f"{server.url}/bank/app/login")
        expect(page.locator("link[rel=stylesheet]")).to_have_count(1)
        page.wait_for_load_state("networkidle")
        again = log.since(mark)
        assert "/bank/app/login" in again
        assert not [path for path in again if "?v=" in path], again  # a year in the cache: not even asked
        assert page.evaluate("getComputedStyle(document.querySelector('.appbar')).backgroundColor") == "rgb(15, 61, 46)"
    finally:
        context.close()
        if server.thread.is_alive():
            server.stop()


def test_a_changed_precached_file_brings_a_new_worker_and_cache(tmp_path, browser, playwright_instance):
    server = LiveServer(tmp_path / "instance")
    copy = tmp_path / "pwa"
    shutil.copytree(PWA_DIR, copy)
    server.app.extensions["static_files"]["bank.app.pwa_file"] = (str(copy), None)  # versions from the copy
    server.start()
    context = browser.new_context(**playwright_instance.devices["Pixel 7"])
    try:
        page = context.new_page()
        page.goto(f"{server.url}/bank/app/login")
        page.wait_for_function(SW_READY)
        [old] = wait_for(lambda: page.evaluate(CACHE_NAMES), message="the shell cache")

        icon = copy / "icons" / "baobab.svg"
        icon.write_text(icon.read_text().replace("</svg>", "<!-- a new look --></svg>"))
        page.evaluate("async () => (await navigator.serviceWorker.getRegistration('/bank/app/')).update()")
        [new] = wait_for(lambda: (names := page.evaluate(CACHE_NAMES)) != [old] and len(names) == 1 and names,
                         message="the new worker's cache, and the old one deleted")
        cached = page.evaluate("""async (name) => (await (await caches.open(name)).keys()).map(
            (request) => new URL(request.url).pathname + new URL(request.url).search)""", new)
        assert f"/bank/app/static/icons/baobab.svg?v={sha12(icon)}" in cached, cached
        server.stop()  # and the shell still works, from the new cache
        page.goto(f"{server.url}/bank/app/")
        expect(page.get_by_test_id("offline-shell")).to_contain_text("You're offline")
    finally:
        context.close()
        if server.thread.is_alive():
            server.stop()

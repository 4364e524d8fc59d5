"""Static files: versioned URLs cached for a year, the rest revalidated, text compressed, and the service
worker's precache list in step with the files (issue #11, P5)."""
import gzip
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import brotli
import pytest
from flask import Blueprint, Flask, Response, url_for

from app.bank.app import PWA_DIR
from app.common import static_files
from app.common.static_files import IMMUTABLE, init_static_files

from ..support import csrf_token

ROOT = Path(__file__).resolve().parents[2]
# Not /bank/app/offline: a static file itself, it names the files without versions (the worker's copy is
# found by ignoring the query; see pwa/sw.js).
PAGES = ["/bank/app/login", "/shop/", "/shop/products/headlamp", "/idp/signin",
         "/walkthrough/"]
FILE_URL = re.compile(r'<(?:script|img|link)\b[^>]*?\b(?:src|href)="(/(?:[^"]*/)?(?:static/|manifest)[^"]*)"')
BANK_CSS = "/bank/app/static/css/bank.css"


def sha12(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def versioned(app, path):
    """The URL a page links for the file route at `path` (made by url_for, so with its version)."""
    with app.test_request_context():
        return static_files.versioned_url(path)


def shell_of(script):
    """The service worker's precache list and cache name, as the browser gets them."""
    shell = json.loads(re.search(r"^const SHELL = (\[.*?\]);$", script, re.M | re.S).group(1))
    return shell, re.search(r'^const SHELL_CACHE = "([^"]+)";', script, re.M).group(1)


def decoded(response):
    body, encoding = response.get_data(), response.headers.get("Content-Encoding")
    return {"gzip": gzip.decompress, "br": brotli.decompress, None: bytes}[encoding](body)


@pytest.mark.parametrize("page", PAGES)
def test_every_static_url_a_page_makes_carries_its_files_version(client, page):
    html = client.get(page).get_data(as_text=True)
    urls = FILE_URL.findall(html)
    assert urls, page
    for url in urls:
        assert re.search(r"[?&]v=[0-9a-f]{12}$", url), (page, url)
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == IMMUTABLE, url


def test_the_version_is_the_files_content_hash(app, client):
    assert versioned(app, BANK_CSS) == f"{BANK_CSS}?v={sha12(PWA_DIR / 'css/bank.css')}"
    assert versioned(app, "/static/vendor/socket.io.min.js").endswith(
        "?v=" + sha12(ROOT / "node_modules/socket.io-client/dist/socket.io.min.js"))
    assert versioned(app, "/shop/static/shop.css").endswith("?v=" + sha12(ROOT / "app/shop/static/shop.css"))


def test_a_versioned_file_is_cached_for_a_year_and_never_revalidated(app, client):
    response = client.get(versioned(app, BANK_CSS))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Expires" not in response.headers


@pytest.mark.parametrize("path", [BANK_CSS, "/bank/app/static/js/push.js", "/static/common/js/countdown.js",
                                  "/walkthrough/static/walkthrough.js", "/bank/app/static/icons/icon-192.png"])
def test_an_unversioned_file_is_revalidated_and_answers_304_when_unchanged(client, path):
    """What ES modules import ("../push.js") has no version: it must never be stale, so a 304 each time."""
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["ETag"] and response.headers["Last-Modified"]
    again = client.get(path, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["Cache-Control"] == "no-cache"
    since = client.get(path, headers={"If-Modified-Since": response.headers["Last-Modified"]})
    assert since.status_code == 304


def test_a_stale_version_gets_the_current_file_but_no_long_lifetime(client):
    response = client.get(f"{BANK_CSS}?v=000000000000")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-cache"
    assert response.get_data() == (PWA_DIR / "css/bank.css").read_bytes()


@pytest.mark.parametrize("accept, encoding", [("gzip", "gzip"), ("br", "br"), ("gzip, deflate, br, zstd", "br"),
                                              ("", None), ("identity", None), ("br;q=0, gzip", "gzip")])
def test_text_is_compressed_when_the_browser_asks(app, client, accept, encoding):
    for path in (versioned(app, BANK_CSS), "/static/vendor/socket.io.min.js", "/bank/app/login",
                 "/bank/app/sw.js", "/bank/api/openapi.json", versioned(app, "/bank/app/manifest.webmanifest")):
        plain = client.get(path).get_data()
        response = client.get(path, headers={"Accept-Encoding": accept})
        assert response.status_code == 200, path
        assert response.headers.get("Content-Encoding") == encoding, path
        assert "Accept-Encoding" in response.headers["Vary"], path
        body = decoded(response)
        if path != "/bank/app/login":  # the page carries a fresh CSRF token each time
            assert body == plain, path
        if encoding:
            assert int(response.headers["Content-Length"]) == len(response.get_data()) < len(body), path


def test_a_compressed_file_still_answers_304_to_its_etag(app, client):
    url = versioned(app, BANK_CSS)
    response = client.get(url, headers={"Accept-Encoding": "br"})
    assert response.headers["Content-Encoding"] == "br" and response.headers["ETag"].startswith('W/"')
    again = client.get(url, headers={"Accept-Encoding": "br", "If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.headers["Cache-Control"] == IMMUTABLE


def test_images_and_tiny_files_are_not_compressed(client):
    for path in ("/bank/app/static/icons/icon-192.png", "/bank/app/static/js/pages/home.js"):
        response = client.get(path, headers={"Accept-Encoding": "gzip, br"})
        assert response.status_code == 200 and "Content-Encoding" not in response.headers, path


def test_socket_io_long_polling_is_untouched(client):
    """engine.io answers /socket.io/ before Flask (and Flask-Compress) ever sees it."""
    response = client.get("/socket.io/?EIO=4&transport=polling", headers={"Accept-Encoding": "gzip, br"})
    assert response.status_code == 200
    assert response.headers.get("Content-Encoding") is None
    assert response.get_data(as_text=True).startswith('0{"sid":')


def test_the_service_worker_is_never_long_cached(client):
    for url in ("/bank/app/sw.js", "/bank/app/sw.js?v=" + sha12(PWA_DIR / "sw.js")):
        response = client.get(url)
        assert response.status_code == 200 and response.mimetype == "text/javascript"
        assert response.headers["Cache-Control"] == "no-cache"
        assert "Service-Worker-Allowed" not in response.headers  # its scope is its own folder, /bank/app/
    again = client.get("/bank/app/sw.js", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_the_precache_list_names_the_current_version_of_every_file(client):
    script = client.get("/bank/app/sw.js").get_data(as_text=True)
    shell, cache_name = shell_of(script)
    source_shell, _ = shell_of((PWA_DIR / "sw.js").read_text())
    assert [url.split("?")[0] for url in shell] == source_shell
    assert shell[0] == f"/bank/app/offline?v={sha12(PWA_DIR / 'offline.html')}"
    assert f"{BANK_CSS}?v={sha12(PWA_DIR / 'css/bank.css')}" in shell
    for url in shell:
        response = client.get(url)
        assert response.status_code == 200 and response.headers["Cache-Control"] == IMMUTABLE, url
    assert re.fullmatch(r"baobab-shell-[0-9a-f]{12}", cache_name)
    assert "const OFFLINE_URL = SHELL[0];" in script


def test_a_changed_precached_file_changes_the_worker_and_its_cache_name(app, client, tmp_path):
    before = client.get("/bank/app/sw.js").get_data(as_text=True)
    copy = tmp_path / "pwa"
    shutil.copytree(PWA_DIR, copy)
    app.extensions["static_files"]["bank.app.pwa_file"] = (str(copy), None)  # serve pwa/ from the copy
    assert client.get("/bank/app/sw.js").get_data(as_text=True) == before  # same bytes, same worker
    css = copy / "css" / "bank.css"
    css.write_text(css.read_text() + "\n.changed { color: red; }\n")
    after = client.get("/bank/app/sw.js").get_data(as_text=True)
    (old_shell, old_name), (new_shell, new_name) = shell_of(before), shell_of(after)
    assert new_name != old_name
    assert f"{BANK_CSS}?v={sha12(css)}" in new_shell and f"{BANK_CSS}?v={sha12(css)}" not in old_shell
    assert new_shell[0] == old_shell[0]  # the others keep their versions
    assert client.get(f"{BANK_CSS}?v={sha12(css)}").headers["Cache-Control"] == IMMUTABLE
    assert client.get([url for url in old_shell if url.startswith(BANK_CSS)][0]).headers["Cache-Control"] == "no-cache"


@pytest.fixture
def small_app(tmp_path):
    """A bare Flask app with one blueprint's static folder in tmp_path, and the static-file rules."""
    (tmp_path / "files").mkdir()
    app = Flask(__name__)
    app.register_blueprint(Blueprint("files", __name__, static_folder=str(tmp_path / "files"),
                                     static_url_path="/static"))

    @app.get("/stream")
    def stream():
        return Response((f"<p>chunk {n}</p>\n" * 100 for n in range(3)), mimetype="text/html")

    init_static_files(app)
    return app


def test_a_changed_file_gets_a_new_version_and_an_unchanged_one_is_hashed_once(small_app, tmp_path, monkeypatch):
    script = tmp_path / "files" / "app.js"
    script.write_text("export const answer = 41;\n")
    with small_app.test_request_context():
        first = url_for("files.static", filename="app.js")
        assert first == f"/static/app.js?v={sha12(script)}"
        monkeypatch.setattr(hashlib, "file_digest", lambda *args: pytest.fail("hashed twice"))
        assert url_for("files.static", filename="app.js") == first
        monkeypatch.undo()
        script.write_text("export const answer = 42;\n")
        stat = script.stat()
        os.utime(script, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        second = url_for("files.static", filename="app.js")
        assert second != first and second == f"/static/app.js?v={sha12(script)}"
        assert url_for("files.static", filename="missing.js") == "/static/missing.js"  # no file, no version
        assert "v=" not in url_for("files.static", filename="../escape.js")  # outside the folder: not looked at
        assert url_for("files.static", filename="app.js", v="pinned").endswith("?v=pinned")


def test_a_streamed_response_is_never_compressed_or_buffered(small_app):
    response = small_app.test_client().get("/stream", headers={"Accept-Encoding": "gzip, br"})
    assert response.is_streamed
    assert "Content-Encoding" not in response.headers
    assert response.get_data(as_text=True).count("<p>chunk") == 300


def test_the_logged_in_bank_app_shell_stays_small(client):
    """P5: the logged-in home page, every file it loads (module imports too), sw.js and its precache."""
    page = client.get("/bank/app/login").get_data(as_text=True)
    client.post("/bank/app/login", data={"csrf_token": csrf_token(page), "username": "thandi",
                                         "password": "paylab-demo"})
    raw = wire = 0
    queue, seen = ["/bank/app/", "/bank/app/sw.js"], set()
    while queue:
        url = queue.pop(0)
        if url.split("?")[0] in seen:
            continue
        seen.add(url.split("?")[0])
        response = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
        assert response.status_code == 200, url
        body = decoded(response)
        raw, wire = raw + len(body), wire + len(response.get_data())
        text = body.decode("utf-8", "replace")
        if response.mimetype == "text/html":
            queue += FILE_URL.findall(text)
        elif url.startswith("/bank/app/sw.js"):
            queue += shell_of(text)[0]
        elif response.mimetype == "text/javascript" and "socket.io" not in url:
            base = url.split("?")[0].rsplit("/", 1)[0]
            for target in re.findall(r'from\s*"([^"]+)"', text):
                queue.append(target if target.startswith("/") else os.path.normpath(f"{base}/{target}"))
    assert raw <= 100_000, raw
    assert wire <= raw * 0.5, (wire, raw)

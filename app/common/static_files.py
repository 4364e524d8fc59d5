"""Static files: a content version in every URL the pages make, a year's cache for it, and compression.

Every route that serves files is known here: each blueprint's own `static` endpoint, and the views marked
with `@serves_files_from(directory)` (the bank app's pwa/ files, its web manifest and offline page, the
shared browser code, the socket.io client). For those:

- `url_for` adds `?v=<first 12 hex of the file's sha256>` (an `app.url_defaults` hook, so no template
  spells a version). The hash is computed once per file per process, again only when the file's mtime or
  size changes.
- A request whose `v` is the file's current version is answered `public, max-age=31536000, immutable`: the
  URL names that content, so a browser never asks again. Without `v`, or with a stale one, the answer is
  `no-cache` with an ETag and Last-Modified, so the browser revalidates every time and gets a cheap 304.
  That is how the files that no page links to stay fresh: the ES modules that pages/*.js import relatively
  ("../push.js" resolves to an unversioned URL; the query of the importing module's URL is not inherited),
  the icons in the web manifest and in notifications, and what the offline page names. Versioning those
  imports too would mean rewriting `import` lines as we serve them or an import map (an inline script,
  which the CSP forbids); one revalidation per module per page load is the price, and no file is ever stale.
- Every text answer, pages and JSON included, is compressed when the browser asks (Flask-Compress: brotli,
  else gzip). Streamed answers are left alone (COMPRESS_STREAMS off), so nothing that streams is ever
  buffered; send_file streams files too, so a text file is read into memory first (the largest, the
  socket.io client, is 47 KB).

Socket.IO never gets here: Flask-SocketIO's engine.io middleware answers /socket.io/ before Flask does.
"""
import hashlib
import os

from flask import current_app, request, url_for
from flask_compress import Compress
from werkzeug.security import safe_join

VERSION_ARG = "v"
IMMUTABLE = "public, max-age=31536000, immutable"  # a year: the most any browser keeps

# What Flask-Compress may compress (PayLab's text: pages, CSS, JS, JSON, SVG, the web manifest).
COMPRESSIBLE = ["text/html", "text/css", "text/javascript", "application/javascript", "application/json",
                "application/manifest+json", "image/svg+xml"]

_versions = {}  # path → (mtime_ns, size, version): one hash per file per process, until the file changes


def serves_files_from(directory, filename=None):
    """Mark a view as serving files from `directory` (the one `filename`, or its `filename` argument).

    Its URLs then carry the file's version and its answers get the cache rules above. Put it under the
    route decorator, so that the view registered is the marked one.
    """
    def mark(view):
        view.static_directory, view.static_filename = str(directory), filename
        return view
    return mark


def init_static_files(app):
    """Version the file routes' URLs, set their cache lifetimes and compress text (after every route exists)."""
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])  # in this order when a browser takes both
    app.config.setdefault("COMPRESS_BR_LEVEL", 5)  # smaller than gzip -6 at its speed (4 is larger than gzip)
    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESSIBLE)
    app.config.setdefault("COMPRESS_STREAMS", False)  # never an event stream or a streamed download
    Compress(app)
    app.extensions["static_files"] = file_routes(app)
    app.url_defaults(add_file_version)
    # Registered after Flask-Compress's hook, so it runs before it (Flask runs them last first).
    app.after_request(set_file_caching)


def file_routes(app):
    """{endpoint: (directory, fixed filename or None)} for every route that serves files."""
    routes = {}
    if app.has_static_folder:
        routes["static"] = (app.static_folder, None)
    for name, blueprint in app.blueprints.items():  # dotted names for nested blueprints
        if blueprint.has_static_folder:
            routes[f"{name}.static"] = (blueprint.static_folder, None)
    for endpoint, view in app.view_functions.items():
        if hasattr(view, "static_directory"):
            routes[endpoint] = (view.static_directory, view.static_filename)
    return routes


def file_of(app, endpoint, values):
    """The file a URL of `endpoint` with `values` serves, or None when it is no file route or no file."""
    route = app.extensions["static_files"].get(endpoint)
    if route is None:
        return None
    directory, filename = route
    path = safe_join(directory, filename or (values or {}).get("filename") or "")
    return path if path and os.path.isfile(path) else None


def file_version(path):
    """The first 12 hex digits of the sha256 of the file's bytes (cached until its mtime or size changes)."""
    stat = os.stat(path)
    cached = _versions.get(path)
    if cached and cached[:2] == (stat.st_mtime_ns, stat.st_size):
        return cached[2]
    with open(path, "rb") as file:
        version = hashlib.file_digest(file, "sha256").hexdigest()[:12]
    _versions[path] = (stat.st_mtime_ns, stat.st_size, version)
    return version


def add_file_version(endpoint, values):
    """`url_for` hook: a file route's URL gets `?v=<version>` (unless the caller gave one)."""
    if VERSION_ARG in values:
        return
    path = file_of(current_app, endpoint, values)
    if path:
        values[VERSION_ARG] = file_version(path)


def set_file_caching(response):
    """A file route's answer: immutable when asked for by its current version, else revalidated each time."""
    if response.status_code not in (200, 304):
        return response
    path = file_of(current_app, request.endpoint, request.view_args)
    if path is None:
        return response
    response.headers.pop("Expires", None)  # Cache-Control says it all
    if request.args.get(VERSION_ARG) == file_version(path):
        response.headers["Cache-Control"] = IMMUTABLE
    else:
        response.headers["Cache-Control"] = "no-cache"  # ETag and Last-Modified make it a 304
    # One weak ETag for the plain and the compressed bytes, as nginx does: the same content, so the 304
    # that send_file answers from If-None-Match (a weak comparison) holds for both and comes before any
    # compression work. A strong one would get ":br" appended by Flask-Compress and miss that early 304.
    etag, weak = response.get_etag()
    if etag and not weak:
        response.set_etag(etag, weak=True)
    # A byte range of a compressed body is not a range of the file: offer none.
    response.headers.pop("Accept-Ranges", None)
    if response.status_code == 200 and response.direct_passthrough and \
            response.mimetype in current_app.config["COMPRESS_MIMETYPES"]:
        # send_file streams the file, and Flask-Compress leaves streams alone: read it, so it is compressed.
        response.direct_passthrough = False
        response.set_data(response.get_data())  # closes the file
    return response


def versioned_url(path):
    """A path of this app's file routes as `url_for` writes it, with its file's version (LookupError if none)."""
    endpoint, values = current_app.url_map.bind("localhost").match(path, method="GET")
    if file_of(current_app, endpoint, values) is None:
        raise LookupError(f"{path} is served by no file route")
    return url_for(endpoint, **values)

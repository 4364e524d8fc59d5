"""P5: what a phone downloads for the bank app's shell, logged in, and whether it may keep it.

Starting from the logged-in home page, it follows what a browser follows: the page's scripts,
stylesheets and module preloads, each ES module's imports (recursively), the service worker the
page registers, and the service worker's precache list. Each file is fetched twice: with
`Accept-Encoding: identity` (its raw size) and with `gzip, br` (the bytes on the wire, as served).
"""
import gzip
import json
import re
from urllib.parse import urljoin, urlsplit

IMPORT_MAP = re.compile(r"<script\b[^>]*type=\"importmap\"[^>]*>(.*?)</script>", re.S | re.I)
TAG_SCRIPT = re.compile(r"<script\b[^>]*\bsrc=\"([^\"]+)\"", re.I)
TAG_LINK = re.compile(r"<link\b[^>]*>", re.I)
ATTR = re.compile(r"(\w[\w-]*)=\"([^\"]*)\"")
IMPORTS = [re.compile(r"\b(?:import|export)\b[^;'\"]*?\bfrom\s*[\"']([^\"']+)[\"']"),
           re.compile(r"\bimport\s*[\"']([^\"']+)[\"']"),
           re.compile(r"\bimport\(\s*[\"']([^\"']+)[\"']\s*\)")]
CONSTANT = re.compile(r"\bconst\s+(\w+)\s*=\s*[\"']([^\"']+)[\"']")
SW_REGISTER = re.compile(r"serviceWorker\.register\(\s*([\"'][^\"']+[\"']|\w+)")
PRECACHE = re.compile(r"\bconst\s+(\w*(?:SHELL|PRECACHE)\w*)\s*=\s*\[(.*?)\]", re.S | re.I)
VERSIONED = re.compile(r"([?&](v|ver|version|h|hash)=[\w.-]+)|([.-][0-9a-f]{8,}\.\w+$)", re.I)
LONG_CACHE_SECONDS = 7 * 24 * 3600


def _resolve(token, constants):
    token = token.strip()
    if token[:1] in "\"'":
        return token[1:-1]
    return constants.get(token)


def _import_map(html, page_url):
    """The page's import map ("imports" only), keys and targets resolved as the browser resolves them."""
    match = IMPORT_MAP.search(html)
    if not match:
        return {}
    mapping = {}
    for key, value in json.loads(match.group(1)).get("imports", {}).items():
        url_like = key.startswith(("/", "./", "../", "http://", "https://"))
        mapping[urljoin(page_url, key) if url_like else key] = urljoin(page_url, value)
    return mapping


def _module_url(spec, importer_url, import_map):
    """Where the browser fetches `import spec` from: through the import map (exact, then prefix), else the URL."""
    url_like = spec.startswith(("/", "./", "../", "http://", "https://"))
    target = urljoin(importer_url, spec) if url_like else spec
    if target in import_map:
        return import_map[target]
    for key, value in import_map.items():
        if key.endswith("/") and target.startswith(key):
            return value + target[len(key):]
    return target if url_like else None


def _cacheable(cache_control):
    """Long-lived and reusable without asking: a max-age of a week or more (or immutable), no no-cache."""
    directives = {part.strip().split("=")[0].lower(): part.strip() for part in (cache_control or "").split(",")}
    if "no-cache" in directives or "no-store" in directives:
        return False
    if "immutable" in directives:
        return True
    max_age = directives.get("max-age", "max-age=0").split("=", 1)[1]
    return max_age.isdigit() and int(max_age) >= LONG_CACHE_SECONDS


def measure_shell(session, base_url, home_path="/bank/app/"):
    """Fetch the shell; returns {files: [...], totals, notes}. `session` is a logged-in phone's."""
    notes, files, seen = [], [], set()
    constants = {}

    def fetch(url, kind):
        if url in seen:
            return None
        seen.add(url)
        raw = session.get(url, headers={"Accept-Encoding": "identity"}, timeout=30)
        served = session.get(url, headers={"Accept-Encoding": "gzip, br"}, timeout=30, stream=True)
        wire = served.raw.read(decode_content=False)
        served.close()
        entry = {"url": urlsplit(url).path + (f"?{urlsplit(url).query}" if urlsplit(url).query else ""),
                 "kind": kind, "status": raw.status_code, "raw_bytes": len(raw.content),
                 "served_bytes": len(wire), "content_encoding": served.headers.get("Content-Encoding"),
                 "gzip6_bytes": len(gzip.compress(raw.content, 6)),
                 "cache_control": served.headers.get("Cache-Control"),
                 "content_type": (raw.headers.get("Content-Type") or "").split(";")[0]}
        entry["cacheable"] = _cacheable(entry["cache_control"])
        entry["versioned"] = bool(VERSIONED.search(entry["url"]))
        if raw.status_code != 200:
            notes.append(f"{entry['url']} answered {raw.status_code}")
        files.append(entry)
        return raw

    home = fetch(urljoin(base_url, home_path), "html")
    if home is None or home.status_code != 200 or "/bank/app/login" in home.url:
        raise RuntimeError("the bank app's home page did not load for a logged-in phone")
    import_map = _import_map(home.text, home.url)
    modules = []
    for src in TAG_SCRIPT.findall(home.text):
        modules.append(urljoin(home.url, src))
    for tag in TAG_LINK.findall(home.text):
        attrs = dict(ATTR.findall(tag))
        rel = attrs.get("rel", "").lower()
        if "stylesheet" in rel:
            fetch(urljoin(home.url, attrs["href"]), "css")
        elif "modulepreload" in rel:
            modules.append(urljoin(home.url, attrs["href"]))
    scripts = []
    while modules:  # every module and what it imports, as the browser's module loader follows them
        url = modules.pop(0)
        response = fetch(url, "js")
        if response is None:
            continue
        scripts.append(response.text)
        constants.update(CONSTANT.findall(response.text))
        for pattern in IMPORTS:
            for spec in pattern.findall(response.text):
                module = _module_url(spec, url, import_map)
                if module:
                    modules.append(module)
                else:
                    notes.append(f"{spec!r} (imported by {urlsplit(url).path}) is not in the import map")
    sw_url = None
    for text in scripts:
        match = SW_REGISTER.search(text)
        if match:
            sw_url = _resolve(match.group(1), dict(CONSTANT.findall(text)) | constants)
            break
    if not sw_url:
        notes.append("no serviceWorker.register() found in the page's scripts: service worker not counted")
    else:
        sw = fetch(urljoin(home.url, sw_url), "service-worker")
        sw_constants = dict(CONSTANT.findall(sw.text))
        match = PRECACHE.search(sw.text)
        if not match:
            notes.append("no precache list (const SHELL/PRECACHE = [...]) found in the service worker")
        else:
            for token in (t for t in match.group(2).split(",") if t.strip()):
                path = _resolve(token, sw_constants)
                if path is None:
                    notes.append(f"precache entry {token.strip()!r} is not a literal: not counted")
                    continue
                fetch(urljoin(urljoin(home.url, sw_url), path), "precache")
    static = [f for f in files if f["kind"] not in ("html", "service-worker") and f["content_type"] != "text/html"]
    totals = {"files": len(files), "raw_bytes": sum(f["raw_bytes"] for f in files),
              "served_bytes": sum(f["served_bytes"] for f in files),
              "gzip6_bytes": sum(f["gzip6_bytes"] for f in files),
              "compressed_files": sum(1 for f in files if f["content_encoding"]),
              "static_files": len(static),
              "static_cacheable_and_versioned": sum(1 for f in static if f["cacheable"] and f["versioned"])}
    return {"files": files, "totals": totals, "notes": notes}

"""Configuration classes, read from the environment (and `.env`).

Anything not set falls back to an embedded default that needs no service:
SQLite files and generated secrets in the git-ignored `instance/` folder
(filled in by `app.instance.apply_embedded_defaults`).
"""
import os
from pathlib import Path

from dotenv import load_dotenv

load_dotenv()


class StartupError(Exception):
    """A setting that stops PayLab from starting. Its message names the setting and says what is wrong,
    so a start prints that one line (wsgi.py, deploy/classroom.py) instead of a traceback: a mistyped key
    is the host's to fix, not a bug to debug."""


class SettingError(StartupError, ValueError):
    """A setting that is not what it must be (a number that is not one)."""


class SecretSettingError(StartupError, RuntimeError):
    """A secret's setting that cannot be used: named, so the start-up says which and why."""


def _secret(name, environ=os.environ):
    """A secret every process of a deployment must share: NAME's value, or the contents of the file that
    NAME_FILE names (a secret mounted by the platform, readable by the service's user alone), so it need
    not sit in the environment. None when neither is set: the embedded default (instance/) applies."""
    path = environ.get(f"{name}_FILE")
    if not path:
        return environ.get(name) or None
    if environ.get(name):
        raise SecretSettingError(f"Set {name} or {name}_FILE, not both.")
    try:
        value = Path(path).read_text().strip()
    except OSError as exc:
        raise SecretSettingError(f"{name}_FILE={path}: cannot read it ({exc.strerror}).") from None
    except UnicodeDecodeError:
        raise SecretSettingError(f"{name}_FILE={path} is not text (UTF-8).") from None
    if not value:
        raise SecretSettingError(f"{name}_FILE={path} is empty.")
    return value


# Secrets' settings that could not be used while this module was read. Not raised here, where a failed
# `import config` would end in a traceback before anyone could catch it: create_app raises the first
# (`raise_unusable_settings`), so a start names the setting in one line (wsgi.py).
UNUSABLE_SETTINGS = []


def _secret_setting(name):
    """`_secret(name)` for the Config class: None, and the error kept for create_app, if it cannot be used."""
    try:
        return _secret(name)
    except SecretSettingError as exc:
        UNUSABLE_SETTINGS.append(exc)
        return None


def raise_unusable_settings():
    if UNUSABLE_SETTINGS:
        raise UNUSABLE_SETTINGS[0]


def _env_number(name, default, kind):
    """NAME as a number; one that is not is kept for create_app to name (and the default stands meanwhile)."""
    try:
        return kind(os.environ.get(name, default))
    except ValueError:
        UNUSABLE_SETTINGS.append(SettingError(f"{name}={os.environ.get(name)!r} is not a number."))
        return kind(default)


def _env_int(name, default):
    return _env_number(name, default, int)


def _env_float(name, default):
    return _env_number(name, default, float)


def _env_flag(name, default):
    return os.environ.get(name, default).strip().lower() not in ("0", "false", "no", "off")


# Where `make run` listens: this computer only, unless HOST says otherwise. The demo logins are
# public, and a tunnel (cloudflared, Tailscale, ngrok) reaches 127.0.0.1 anyway.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000  # not 5000, which clashes with AirPlay on macOS
EVERY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # listening there, the server is reached here


def listen_host():
    """The address to listen on: HOST (0.0.0.0 for every address, which must be asked for), else 127.0.0.1."""
    return os.environ.get("HOST", "").strip() or DEFAULT_HOST


def listen_url(host, port):
    """The URL of the server listening on host:port, as another process on this computer reaches it."""
    host = EVERY_ADDRESS.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Config:
    # Secrets: None means "generate once into instance/ and reuse". Each may also come from a file:
    # NAME_FILE=/run/secrets/name (see _secret). Every process of a deployment must have the same ones.
    SECRET_KEY = _secret_setting("SECRET_KEY")
    # PayLab ID's id_token signing key (an RSA private key, PEM), which it publishes in its JWKS.
    IDP_SIGNING_KEY = _secret_setting("IDP_SIGNING_KEY")

    PORT = _env_int("PORT", DEFAULT_PORT)
    HOST = listen_host()
    # What a browser types; drives every absolute link.
    PUBLIC_URL = os.environ.get("PUBLIC_URL", f"http://localhost:{PORT}").rstrip("/")
    # Where one server reaches another; defaults to the address we listen on.
    INTERNAL_URL = os.environ.get("INTERNAL_URL", listen_url(HOST, PORT)).rstrip("/")
    # Which servers this process runs: "shop,bank" by default, "bank" to deploy the bank alone.
    SERVERS = os.environ.get("SERVERS", "idp,shop,bank")

    # Databases: None means SQLite in instance/.  One database per server.
    DATABASE_URL = os.environ.get("DATABASE_URL")
    SHOP_DATABASE_URL = os.environ.get("SHOP_DATABASE_URL")
    BANK_DATABASE_URL = os.environ.get("BANK_DATABASE_URL")
    IDP_DATABASE_URL = os.environ.get("IDP_DATABASE_URL")
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    # PostgreSQL connection pools, per database and process (app/common/instance.py: database_pool_options).
    DATABASE_POOL_SIZE = _env_int("DATABASE_POOL_SIZE", 2)
    DATABASE_MAX_OVERFLOW = _env_int("DATABASE_MAX_OVERFLOW", 2)
    DATABASE_POOL_TIMEOUT = _env_float("DATABASE_POOL_TIMEOUT", 10.0)
    DATABASE_POOL_PRE_PING = _env_flag("DATABASE_POOL_PRE_PING", "1")

    # Socket.IO: in-process by default; a Redis URL for more than one process.
    SOCKETIO_MESSAGE_QUEUE = _secret_setting("SOCKETIO_MESSAGE_QUEUE")  # a URL may carry Redis's password
    # The queue's channel: PayLab deployments sharing one Redis each need their own.
    SOCKETIO_CHANNEL = os.environ.get("SOCKETIO_CHANNEL", "paylab")
    # How the server waits on its sockets: "threading" (Werkzeug's server, `make run`: OS threads, four
    # per open socket) or "gevent" (under `gunicorn -k gevent`, which patches the standard library
    # first: one greenlet per socket). "auto", the default, is gevent where gevent has patched the
    # process, else threading. See the README's Performance section for the two side by side.
    SOCKETIO_ASYNC_MODE = os.environ.get("SOCKETIO_ASYNC_MODE", "auto")

    # Outgoing HTTP (every cross-server call): never wait forever.
    HTTP_CONNECT_TIMEOUT = _env_float("HTTP_CONNECT_TIMEOUT", 3.0)
    HTTP_READ_TIMEOUT = _env_float("HTTP_READ_TIMEOUT", 10.0)

    # Bank
    # Encrypts secrets the bank must read back (merchant webhook secrets) in its database: Fernet keys,
    # comma-separated, the first one encrypting. None means "generate once into instance/".
    BANK_SECRETS_KEY = _secret_setting("BANK_SECRETS_KEY")
    # The key of the PINs' keyed hash (app/bank/pins.py), 64 hex digits; several, comma-separated, to rotate.
    BANK_PIN_PEPPER = _secret_setting("BANK_PIN_PEPPER")
    PAYMENT_TTL_SECONDS = _env_int("PAYMENT_TTL_SECONDS", 120)
    BANK_TOKEN_TTL_SECONDS = _env_int("BANK_TOKEN_TTL_SECONDS", 3600)
    # Webhook retries: base * 2**n seconds; 15 attempts reach about 23 hours.
    WEBHOOK_RETRY_BASE_SECONDS = _env_float("WEBHOOK_RETRY_BASE_SECONDS", 5.0)
    WEBHOOK_MAX_ATTEMPTS = _env_int("WEBHOOK_MAX_ATTEMPTS", 15)
    WEBHOOK_TIMEOUT_SECONDS = _env_float("WEBHOOK_TIMEOUT_SECONDS", 5.0)
    # Webhook sends run on a pool, one at a time per merchant endpoint: a merchant that never answers
    # holds one thread, not the others. A claimed event is leased (longer than a send, timeouts included).
    WEBHOOK_WORKER_THREADS = _env_int("WEBHOOK_WORKER_THREADS", 8)
    # Deliveries in flight at once to one merchant endpoint (below the thread count: a dead one leaves the rest).
    WEBHOOK_IN_FLIGHT_PER_ENDPOINT = _env_int("WEBHOOK_IN_FLIGHT_PER_ENDPOINT", 6)
    WEBHOOK_LEASE_SECONDS = _env_float("WEBHOOK_LEASE_SECONDS", 60.0)
    # How often the bank's worker wakes up on its own to expire and redeliver.
    BANK_WORKER_INTERVAL_SECONDS = _env_float("BANK_WORKER_INTERVAL_SECONDS", 1.0)
    BACKGROUND_WORKERS = _env_flag("BACKGROUND_WORKERS", "1")
    # Web Push: whom push services may contact (mailto: or https:); None derives one from PUBLIC_URL.
    VAPID_SUBJECT = os.environ.get("VAPID_SUBJECT")
    # The VAPID private key (a P-256 PEM, or the 32 raw bytes base64url-encoded as web-push tools print
    # them); every process must sign with the same one. None means "generate once into instance/".
    VAPID_PRIVATE_KEY = _secret_setting("VAPID_PRIVATE_KEY")
    PUSH_TIMEOUT_SECONDS = _env_float("PUSH_TIMEOUT_SECONDS", 10.0)
    PUSH_MAX_ATTEMPTS = _env_int("PUSH_MAX_ATTEMPTS", 5)
    PUSH_WORKER_THREADS = _env_int("PUSH_WORKER_THREADS", 4)
    # Fairness: one customer's slow endpoints must not hold up everyone's payment pushes. Threads kept
    # free for payment pushes (test pushes never take them), sends in flight per customer (one per
    # device always), and a circuit breaker: after N failures in a row a device rests for S seconds.
    PUSH_THREADS_RESERVED_FOR_PAYMENTS = _env_int("PUSH_THREADS_RESERVED_FOR_PAYMENTS", 1)
    PUSH_MAX_IN_FLIGHT_PER_CUSTOMER = _env_int("PUSH_MAX_IN_FLIGHT_PER_CUSTOMER", 2)
    PUSH_CIRCUIT_FAILURES = _env_int("PUSH_CIRCUIT_FAILURES", 3)
    PUSH_CIRCUIT_OPEN_SECONDS = _env_float("PUSH_CIRCUIT_OPEN_SECONDS", 60.0)
    # A claimed message is leased: after a crash only an expired lease is sent again (longer than a send).
    PUSH_LEASE_SECONDS = _env_float("PUSH_LEASE_SECONDS", 60.0)
    # Push endpoints the bank sends to (SSRF guard): https push-service hosts, "*." for subdomains;
    # an entry with a scheme ("http://127.0.0.1") allows that scheme on any port (the tests' push service).
    PUSH_SERVICE_HOSTS = os.environ.get("PUSH_SERVICE_HOSTS", "fcm.googleapis.com,updates.push.services.mozilla.com,"
                                        "*.notify.windows.com,web.push.apple.com,*.push.apple.com")
    # Behind a reverse proxy or tunnel, trust this many X-Forwarded-* hops (0: no proxy, the default).
    PROXY_FIX_HOPS = _env_int("PROXY_FIX_HOPS", 0)
    DEMO_STARTING_BALANCE_CENTS = _env_int("DEMO_STARTING_BALANCE_CENTS", 500000)
    # "Add funds" in the bank app: at most this much per customer in any 24 hours (read from the ledger).
    BANK_ADD_FUNDS_DAILY_LIMIT_CENTS = _env_int("BANK_ADD_FUNDS_DAILY_LIMIT_CENTS", 500000)

    # Shop as a merchant of the bank.  None means "read instance/shop-merchant.json",
    # which `flask seed` writes when it registers the shop with the bank.
    BANK_API_URL = os.environ.get("BANK_API_URL")
    BANK_APP_URL = os.environ.get("BANK_APP_URL")  # what the shop's QR code opens on the phone
    BANK_CLIENT_ID = os.environ.get("BANK_CLIENT_ID")
    BANK_CLIENT_SECRET = _secret_setting("BANK_CLIENT_SECRET")
    BANK_WEBHOOK_SECRET = _secret_setting("BANK_WEBHOOK_SECRET")
    SHOP_WEBHOOK_URL = os.environ.get("SHOP_WEBHOOK_URL")
    # Sign-in for the shop: a comma-separated list of OpenID Connect providers. Each NAME is
    # configured by OIDC_<NAME>_METADATA_URL, _CLIENT_ID, _CLIENT_SECRET and _LABEL (see README).
    # "paylab" is the built-in PayLab ID, configured by `flask seed` unless these are set.
    LOGIN_PROVIDERS = os.environ.get("LOGIN_PROVIDERS", "paylab")
    WEBHOOK_TOLERANCE_SECONDS = _env_int("WEBHOOK_TOLERANCE_SECONDS", 300)

    # The instructor's view (/instructor/): HTTP Basic, user "instructor" and this password. Unset, the
    # view is off (a class's progress and its phones' diagnostics are not for everyone who finds the URL).
    INSTRUCTOR_PASSWORD = _secret_setting("INSTRUCTOR_PASSWORD")

    MAX_CONTENT_LENGTH = 1024 * 1024  # no honest form or API call is bigger
    # Rate limits per client address ("memory://" is per process; a redis:// URL shares them).
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    # Sign-in: per account from one address (a genuine user's own bucket), plus tries per account from
    # anywhere and failed tries per address across accounts (a class shares one address: keep it high).
    RATELIMIT_SIGNIN = os.environ.get("RATELIMIT_SIGNIN", "10 per minute")
    RATELIMIT_SIGNIN_ACCOUNT = os.environ.get("RATELIMIT_SIGNIN_ACCOUNT", "30 per hour")
    RATELIMIT_SIGNIN_ADDRESS = os.environ.get("RATELIMIT_SIGNIN_ADDRESS", "100 per minute")
    # Every door that checks a PIN, per bank customer (the lockout stops guessing; this slows it first).
    RATELIMIT_PIN = os.environ.get("RATELIMIT_PIN", "10 per minute")
    # The attack lab's runs, per learner: each sends a few requests to the bank or the shop.
    RATELIMIT_LAB = os.environ.get("RATELIMIT_LAB", "20 per minute")
    RATELIMIT_SIGNUP = os.environ.get("RATELIMIT_SIGNUP", "5 per minute")
    # Token requests per OAuth client, from any address (the shop asks PayLab ID for a token at every
    # learner's sign-in: a class signs in together), and failed token requests per address.
    RATELIMIT_TOKEN = os.environ.get("RATELIMIT_TOKEN", "600 per minute")
    RATELIMIT_TOKEN_ADDRESS = os.environ.get("RATELIMIT_TOKEN_ADDRESS", "30 per minute")
    # Wrong instructor passwords per address (each a guess at the class's data).
    RATELIMIT_INSTRUCTOR = os.environ.get("RATELIMIT_INSTRUCTOR", "10 per minute")
    # "Add funds" in the bank app, per customer: each one is a ledger transfer (the daily limit caps the sum).
    RATELIMIT_ADD_FUNDS = os.environ.get("RATELIMIT_ADD_FUNDS", "5 per minute")
    # "Send me a test notification": each click is a push to every device of the customer's.
    RATELIMIT_TEST_PUSH = os.environ.get("RATELIMIT_TEST_PUSH", "6 per minute")
    # Signed-in sessions end at sign-out everywhere; the bank's (and its merchant portal's) also end
    # after inactivity, as banking apps do (0: never). A page open on the phone polls, so it stays alive.
    BANK_SESSION_IDLE_SECONDS = _env_int("BANK_SESSION_IDLE_SECONDS", 600)
    BANK_SESSION_MAX_SECONDS = _env_int("BANK_SESSION_MAX_SECONDS", 12 * 3600)
    MERCHANT_SESSION_IDLE_SECONDS = _env_int("MERCHANT_SESSION_IDLE_SECONDS", 1800)
    WTF_CSRF_TIME_LIMIT = None  # tied to the session, not a clock: long checkouts stay valid
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_HTTPONLY = True
    # The session is a signed cookie: a response that carries it overwrites whatever the browser holds.
    # Refreshed on every response (Flask's default for a permanent session), a slow request sent with an
    # older cookie would bring back a flash another page already showed, or lose one just set. Only a
    # request that changes the session sends it; idleness is tracked on the server (common/signins.py).
    SESSION_REFRESH_EACH_REQUEST = False


def login_provider_settings(environ=os.environ):
    """OIDC_<NAME>_<SETTING> variables, e.g. OIDC_GOOGLE_CLIENT_ID, as config keys; a client secret may
    come from a file (OIDC_<NAME>_CLIENT_SECRET_FILE), as every secret may."""
    settings = {}
    for key, value in environ.items():
        if not key.startswith("OIDC_"):
            continue
        name = key.removesuffix("_FILE") if key.endswith("_CLIENT_SECRET_FILE") else key
        settings[name] = _secret(name, environ) if name.endswith("_CLIENT_SECRET") else value
    return settings


try:
    for _key, _value in login_provider_settings().items():
        setattr(Config, _key, _value)
except SecretSettingError as _unusable:
    UNUSABLE_SETTINGS.append(_unusable)


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret-key"
    BACKGROUND_WORKERS = False
    WEBHOOK_RETRY_BASE_SECONDS = 0.2
    BANK_WORKER_INTERVAL_SECONDS = 0.1
    HTTP_READ_TIMEOUT = 5.0
    PUSH_TIMEOUT_SECONDS = 5.0
    # The tests' own push service (tests/pushservice.py) listens on plain HTTP on a free port.
    PUSH_SERVICE_HOSTS = Config.PUSH_SERVICE_HOSTS + ",http://127.0.0.1"
    RATELIMIT_TEST_PUSH = RATELIMIT_ADD_FUNDS = "10000 per minute"
    SOCKETIO_MESSAGE_QUEUE = None
    DATABASE_URL = SHOP_DATABASE_URL = BANK_DATABASE_URL = IDP_DATABASE_URL = None
    LOGIN_PROVIDERS = "paylab"
    # The suite signs in hundreds of times from 127.0.0.1; tests of the limits set the real ones.
    RATELIMIT_SIGNIN = RATELIMIT_SIGNUP = RATELIMIT_TOKEN = RATELIMIT_TOKEN_ADDRESS = "10000 per minute"
    RATELIMIT_SIGNIN_ACCOUNT = RATELIMIT_SIGNIN_ADDRESS = RATELIMIT_PIN = "10000 per minute"
    BANK_API_URL = SHOP_WEBHOOK_URL = BANK_APP_URL = None
    BANK_CLIENT_ID = BANK_CLIENT_SECRET = BANK_WEBHOOK_SECRET = None

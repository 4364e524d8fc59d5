"""PayLab as `make bench` runs it: `python -m tests.bench.server INSTANCE SETTINGS_JSON`.

It runs wsgi.py's own `__main__` (the server, its workers and its server class exactly as
`make run` starts them), with two differences only: the configuration is `bench_config()`
(the embedded defaults of `make run`, on a fresh instance folder, with the rate limits raised
for one machine playing a whole class, and the bench's local push service allowed), and,
when PAYLAB_COUNT_QUERIES=1, SQL counters served at /_bench/counters.
"""
import os

if os.environ.get("SOCKETIO_ASYNC_MODE") == "gevent" and __name__ == "__main__":
    from gevent import monkey
    monkey.patch_all()  # as wsgi.py does, before anything below imports socket or threading

import json  # noqa: E402
import runpy  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HIGH = "1000000 per minute"


def bench_settings(port, **extra):
    """The settings the bench gives PayLab: `make run`'s defaults except where noted, each with its reason."""
    settings = {
        "PORT": port, "HOST": "127.0.0.1",
        # rp id "localhost" for the passkeys; the servers call each other on the address they listen on.
        "PUBLIC_URL": f"http://localhost:{port}", "INTERNAL_URL": f"http://127.0.0.1:{port}",
        "BACKGROUND_WORKERS": True,
        # One machine plays a whole class from 127.0.0.1: the per-address and per-customer limits would
        # measure the limiter, not the loop (TestConfig raises them for the same reason).
        "RATELIMIT_SIGNIN": HIGH, "RATELIMIT_SIGNIN_ACCOUNT": HIGH, "RATELIMIT_SIGNIN_ADDRESS": HIGH,
        "RATELIMIT_PIN": HIGH, "RATELIMIT_SIGNUP": HIGH, "RATELIMIT_TOKEN": HIGH, "RATELIMIT_TOKEN_ADDRESS": HIGH,
        "RATELIMIT_ADD_FUNDS": HIGH,
        "RATELIMIT_TEST_PUSH": HIGH,
        # The bench's push service listens on plain HTTP on 127.0.0.1 (as the tests' does).
        "PUSH_SERVICE_HOSTS": "fcm.googleapis.com,updates.push.services.mozilla.com,*.notify.windows.com,"
                              "web.push.apple.com,*.push.apple.com,http://127.0.0.1",
        # A bench phone idles between phases for longer than a learner's would: keep its sign-in open.
        "BANK_SESSION_IDLE_SECONDS": 3600,
        # Payments prepared before a phase are approved a few minutes later.
        "PAYMENT_TTL_SECONDS": 900,
        # Nothing from the environment (.env) may point this instance elsewhere.
        "SOCKETIO_MESSAGE_QUEUE": None, "DATABASE_URL": None, "SHOP_DATABASE_URL": None, "BANK_DATABASE_URL": None,
        "IDP_DATABASE_URL": None, "LOGIN_PROVIDERS": "paylab", "SERVERS": "idp,shop,bank", "PROXY_FIX_HOPS": 0,
        "BANK_API_URL": None, "SHOP_WEBHOOK_URL": None, "BANK_APP_URL": None, "BANK_CLIENT_ID": None,
        "BANK_CLIENT_SECRET": None, "BANK_WEBHOOK_SECRET": None,
    }
    settings.update(extra)
    return settings


def bench_config(settings):
    """A Config subclass with `settings` on top (Config, not TestConfig: the bench measures `make run`)."""
    from config import Config
    return type("BenchConfig", (Config,), dict(settings))


def serve(instance, settings):
    """Run wsgi.py as `make run` does, its app built on the bench's instance folder and configuration."""
    import app as paylab
    real_create_app = paylab.create_app
    config = bench_config(settings)

    def create_bench_app(config_class=None, instance_path=None):
        application = real_create_app(config, instance_path=instance)
        if os.environ.get("PAYLAB_COUNT_QUERIES") == "1":
            from .counters import install_query_counters
            install_query_counters(application)
        return application

    paylab.create_app = create_bench_app  # wsgi.py does `from app import create_app` after this
    sys.argv = [str(ROOT / "wsgi.py")]
    runpy.run_path(str(ROOT / "wsgi.py"), run_name="__main__")


if __name__ == "__main__":
    serve(sys.argv[1], json.loads(sys.argv[2]))

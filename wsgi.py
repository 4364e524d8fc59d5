"""The entry point: `app` for WSGI servers, and `python wsgi.py` for the Socket.IO dev server."""
import gc
import os

if os.environ.get("SOCKETIO_ASYNC_MODE") == "gevent" and __name__ == "__main__":
    # gevent's server: the standard library's sockets, threads and sleeps become cooperative, before
    # anything imports them. (`gunicorn -k gevent` does this itself, before it imports this module.)
    from gevent import monkey
    monkey.patch_all()

import sys  # noqa: E402

from app import create_app, start_background_workers  # noqa: E402 (after the patch above)
from app.cli import prepare_instance  # noqa: E402
from config import EVERY_ADDRESS, StartupError  # noqa: E402

try:
    # INSTANCE_PATH: where generated keys and SQLite files go (default: instance/ beside this file).
    app = create_app(instance_path=os.path.abspath(os.environ["INSTANCE_PATH"]) if os.environ.get("INSTANCE_PATH")
                     else None)
except StartupError as exc:  # a setting the host must fix: say which, in one line, and stop (flask, gunicorn too)
    print(f"PayLab cannot start: {exc}", file=sys.stderr, flush=True)
    sys.exit(4)  # gunicorn's "the app failed to load": its arbiter stops, rather than start the worker again and again


def where_it_listens(config):
    """One line for the start-up banner: who can reach this server (the demo logins are public)."""
    host, port = config["HOST"], config["PORT"]
    if host in EVERY_ADDRESS:
        return f"Listening on every address ({host}, port {port}): anyone on your network can reach it."
    if host in EVERY_ADDRESS.values() or host == "localhost":
        return f"Listening on {host}:{port}, this computer only (a tunnel reaches it; HOST=0.0.0.0 opens it up)."
    return f"Listening on {host}:{port}."


if __name__ == "__main__":
    prepare_instance(app)  # migrate and seed, in this process and only what is missing (make run)
    start_background_workers(app)
    # What start-up made (modules, the app, its routes and templates) lives as long as the process: kept
    # out of the collector's full passes, which otherwise scan it all and pause every thread meanwhile
    # (make bench with 600 sockets: full passes of 96 ms median, up to 138 ms, in P1's worst latencies).
    gc.collect()
    gc.freeze()
    config = app.config
    print(f"\n  PayLab is running.\n"
          f"    Shop:      {config['PUBLIC_URL']}/shop/   (sign in: thandi@example.co.za / paylab-demo)\n"
          f"    Walkthrough: {config['PUBLIC_URL']}/walkthrough/   (open it next to the shop)\n"
          f"    PayLab ID: {config['PUBLIC_URL']}/idp/\n"
          f"    Bank app:  {config['PUBLIC_URL']}/bank/app/   (demo: thandi / paylab-demo, PIN 1234)\n"
          f"    Merchant:  {config['PUBLIC_URL']}/bank/merchant/\n"
          f"    Bank API:  {config['PUBLIC_URL']}/bank/api/openapi.json\n"
          f"  {where_it_listens(config)}\n", flush=True)
    app.extensions["socketio"].run(app, host=config["HOST"], port=config["PORT"], allow_unsafe_werkzeug=True,
                                   use_reloader=False)

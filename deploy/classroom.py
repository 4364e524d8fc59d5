"""`make classroom`: PayLab for a class on one machine, as Flask-SocketIO's deployment guide runs it.

WEB_PROCESSES single-worker gevent servers (gunicorn, deploy/gunicorn.conf.py), each on a port
of its own; one `flask bank worker` for webhooks, pushes and expiries; nginx in front on HOST:PORT
(deploy/nginx.conf.template), the only address browsers and the servers' own calls use. Events
between the processes go through Redis (SOCKETIO_MESSAGE_QUEUE), data lives in PostgreSQL, and
every process reads the same secrets (the environment, or this machine's one instance folder).

Before starting anything it checks what would otherwise fail later, one process at a time: the
queue, the databases, the release (`make release`), the keys, nginx. Then it keeps the processes
running: one that dies is started again (gunicorn's arbiter also restarts its own worker), and
SIGTERM or Ctrl-C stops them all. Run `make release` first, on every deploy.
"""
import os
import re
import resource
import shutil
import signal
import string
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import DEFAULT_PORT, listen_host, listen_url  # noqa: E402

DEPLOY = ROOT / "deploy"
SOCKETS_PER_PROCESS = 600  # what one process was measured with (make bench); the open-file limit is sized for it
RESTARTS_ALLOWED = 5       # in RESTART_WINDOW seconds, per process: more is a crash loop, not bad luck,
RESTART_WINDOW = 60.0      # and that process is then started again only every CRASH_LOOP_WAIT seconds
CRASH_LOOP_WAIT = 30.0     # (the others go on serving the class meanwhile)


class CannotStart(Exception):
    """A reason the classroom cannot start, said in one line (no traceback: nothing here is a bug)."""


def log(message):
    print(f"classroom: {message}", flush=True)


def classroom_settings(environ):
    """Ports and counts from the environment, checked."""
    try:
        processes = int(environ.get("WEB_PROCESSES", "3"))
        port = int(environ.get("PORT", DEFAULT_PORT))
        first_web_port = int(environ.get("WEB_PORTS_FROM", port + 1))
    except ValueError as exc:
        raise CannotStart(f"WEB_PROCESSES, PORT and WEB_PORTS_FROM are numbers ({exc}).") from None
    if not 1 <= processes <= 32:
        raise CannotStart(f"WEB_PROCESSES={processes}: between 1 and 32 (one per core is plenty).")
    host = listen_host()
    return {"processes": processes, "host": host, "port": port,
            "web_ports": [first_web_port + n for n in range(processes)],
            "proxy_url": listen_url(host, port)}


def process_environment(environ, settings):
    """What every process of the classroom is started with: the host's settings, and what the layout fixes."""
    env = dict(environ)
    env.setdefault("PUBLIC_URL", f"http://localhost:{settings['port']}")
    # The servers call each other (and the bank its merchants' webhooks) through the proxy: any process answers.
    env.setdefault("INTERNAL_URL", settings["proxy_url"])
    if env.get("SOCKETIO_MESSAGE_QUEUE") or env.get("SOCKETIO_MESSAGE_QUEUE_FILE"):
        # One Redis for the queue and the limits, unless told otherwise: per-process limits would let a
        # class's guesser try WEB_PROCESSES times as often.
        env.setdefault("RATELIMIT_STORAGE_URI", env.get("SOCKETIO_MESSAGE_QUEUE") or "")
    env["BACKGROUND_WORKERS"] = "0"  # the worker process does the background work
    env["PROXY_FIX_HOPS"] = env.get("PROXY_FIX_HOPS") or "1"  # nginx, on this machine
    env["PYTHONUNBUFFERED"] = "1"
    return env


def check_before_starting(env):
    """Build the app as a web process would, and say in one line what would stop it (or stop the class)."""
    import importlib

    import config
    os.environ.update(env)  # the checks read the same settings the processes will:
    importlib.reload(config)  # config.py reads the environment as it is imported (create_app says what it could not use)
    from app import create_app
    from app.extensions import db
    from config import Config, StartupError
    try:
        config.raise_unusable_settings()  # a secret's file that cannot be read, before what depends on it
    except StartupError as exc:
        raise CannotStart(str(exc)) from None
    if not Config.SOCKETIO_MESSAGE_QUEUE:
        raise CannotStart("SOCKETIO_MESSAGE_QUEUE is not set: a class's processes hear each other's events "
                          "through Redis (redis://host:6379/0).")
    if not str(Config.RATELIMIT_STORAGE_URI).startswith(("redis://", "rediss://", "unix://")):
        raise CannotStart(f"RATELIMIT_STORAGE_URI={Config.RATELIMIT_STORAGE_URI}: the processes must share "
                          "their rate limits through Redis, or each would allow the whole limit.")
    try:
        app = create_app(type("ClassroomConfig", (Config,), {"SOCKETIO_ASYNC_MODE": "gevent"}),
                         instance_path=instance_path(env))
    except StartupError as exc:  # the queue, a key, the server class (gevent needs PostgreSQL): say which
        raise CannotStart(str(exc)) from None
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError
    with app.app_context():
        for bind, engine in db.engines.items():
            try:
                released = inspect(engine).has_table("alembic_version")
            except SQLAlchemyError as exc:
                raise CannotStart(f"the {bind or 'default'} database does not answer: "
                                  f"{str(exc.orig if hasattr(exc, 'orig') else exc).strip()}") from None
            finally:
                engine.dispose()
            if not released:
                raise CannotStart(f"the {bind or 'default'} database is not migrated: run `make release` first "
                                  "(on every deploy).")
    if not app.config.get("BANK_CLIENT_ID"):
        raise CannotStart("the shop is not registered with the bank: run `make release` first.")
    return app


def instance_path(env):
    path = env.get("INSTANCE_PATH")
    return str(Path(path).resolve()) if path else str(ROOT / "instance")


def nginx_binary():
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                           if os.access(p, os.X_OK)), None)
    if found is None:
        raise CannotStart("nginx is not installed (Debian: apt-get install nginx). It is the classroom's front door.")
    return found


def raise_open_file_limit(processes):
    """Each socket is a file descriptor in a web process and two in nginx: ask for the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    needed = 2 * SOCKETS_PER_PROCESS * processes + 256
    if limit < needed:
        log(f"warning: the open-file limit is {limit} (ulimit -n); {processes} processes' sockets need about "
            f"{needed}: raise it (ulimit -n {needed}, or LimitNOFILE= in a systemd unit).")
    return limit


def render_nginx_conf(settings, prefix, open_files):
    """deploy/nginx.conf.template with this classroom's ports and folder filled in."""
    template = string.Template((DEPLOY / "nginx.conf.template").read_text())
    servers = "\n".join(f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;"
                        for port in settings["web_ports"])
    listen = f"[{settings['host']}]:{settings['port']}" if ":" in settings["host"] else \
        f"{settings['host']}:{settings['port']}"
    text = template.safe_substitute(open_files=open_files, prefix=prefix, access_log=prefix / "access.log",
                                    worker_connections=max(1024, min(open_files - 64, 16384)),
                                    upstream_servers=servers, listen=listen)
    left = re.findall(r"\$\{\w+\}", text)
    if left:
        raise CannotStart(f"deploy/nginx.conf.template names {', '.join(left)}, which nothing fills in.")
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    return conf


class Child:
    """One process of the classroom, started again if it dies (more slowly if it keeps dying)."""

    def __init__(self, name, args, env):
        self.name, self.args, self.env = name, args, env
        self.process, self.restarts, self.not_before = None, [], 0.0

    def start(self):
        self.process = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL)

    def restart_if_dead(self):
        code = self.process.poll()
        now = time.monotonic()
        if code is None or now < self.not_before:
            return
        self.restarts = [t for t in self.restarts if now - t < RESTART_WINDOW] + [now]
        crash_loop = len(self.restarts) > RESTARTS_ALLOWED
        self.not_before = now + CRASH_LOOP_WAIT if crash_loop else 0.0
        log(f"{self.name} exited (code {code}); starting it again" + (
            f" (it exited {len(self.restarts) - 1} times within {RESTART_WINDOW:.0f} s: see its output above; "
            f"after this, at most every {CRASH_LOOP_WAIT:.0f} s, while the rest go on)" if crash_loop else ""))
        self.start()

    def stop(self, sig=signal.SIGTERM):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)


def wait_until_answering(url, children, timeout=90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in children:
            if child.process.poll() is not None:
                raise CannotStart(f"{child.name} exited with code {child.process.returncode} while starting: "
                                  "see its output above.")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise CannotStart(f"{url} did not answer within {timeout:.0f} s.")


def main():
    settings = classroom_settings(os.environ)
    env = process_environment(os.environ, settings)
    nginx = nginx_binary()
    app = check_before_starting(env)
    prefix = Path(app.instance_path) / "classroom"
    prefix.mkdir(mode=0o700, exist_ok=True)
    open_files = raise_open_file_limit(settings["processes"])
    conf = render_nginx_conf(settings, prefix, open_files)
    python = sys.executable
    web = []
    for n, port in enumerate(settings["web_ports"], start=1):
        web_env = dict(env, PORT=str(port), SOCKETIO_ASYNC_MODE="gevent")
        web.append(Child(f"web-{n} (port {port})", [python, "-m", "gunicorn", "-c", str(DEPLOY / "gunicorn.conf.py"),
                                                     "-b", f"127.0.0.1:{port}", "wsgi:app"], web_env))
    # The worker serves no socket: OS threads (its pools are threads), events out through the queue.
    worker = Child("worker", [python, "-m", "flask", "--app", "wsgi", "bank", "worker"],
                   dict(env, SOCKETIO_ASYNC_MODE="threading"))
    proxy = Child("nginx", [nginx, "-p", str(prefix), "-c", str(conf), "-e", "stderr", "-g", "daemon off;"], env)
    children = [*web, worker, proxy]

    stopping = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: stopping.append(signum))
    try:
        for child in children:
            child.start()
        for child, port in zip(web, settings["web_ports"]):
            wait_until_answering(f"http://127.0.0.1:{port}/bank/api/openapi.json", children)
        wait_until_answering(f"{settings['proxy_url']}/bank/api/openapi.json", children)
        log(f"PayLab for a class is running: {env['PUBLIC_URL']}/shop/ (through nginx on "
            f"{settings['host']}:{settings['port']}; {settings['processes']} web processes on ports "
            f"{settings['web_ports'][0]}-{settings['web_ports'][-1]}, one worker; open files {open_files}; "
            f"access log {prefix / 'access.log'}).")
        while not stopping:
            time.sleep(0.5)
            for child in children:
                child.restart_if_dead()
    finally:
        for child in children:
            child.stop(signal.SIGQUIT if child is proxy else signal.SIGTERM)
        deadline = time.monotonic() + 25
        for child in children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.stop(signal.SIGKILL)
                child.process.wait()
    log("stopped")


if __name__ == "__main__":
    try:
        main()
    except CannotStart as exc:
        log(f"cannot start: {exc}")
        sys.exit(2)

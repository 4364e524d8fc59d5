"""`make bench-classroom`: a class's PayLab, measured as a class uses it (issue 12's figures).

It starts the stack the README's host commands start (`flask release`, then deploy/classroom.py:
WEB_PROCESSES gevent web processes, the worker, nginx) on fresh PostgreSQL databases and a Redis
database index of its own, with the settings' defaults (rate limits included: a class signs in
from one address too). Then, through nginx, as browsers and phones do:
1. a class of learners signs in to the shop (PayLab ID's authorization-code flow) and enrols a
   phone (the PIN, a push subscription at the bench's RFC 8030 push service);
2. each learner opens three sockets: the order page's (/shop), the walkthrough's (/walkthrough) and
   the bank app's (/bank): 900 for 300 learners;
3. the burst: every learner at once (BENCH_THREADS at a time) checks out, pays, gets the push,
   approves with the PIN, and waits for `order_status` "paid" on the laptop's socket.
It reports errors, the approve → laptop latency (from the approve request leaving the phone to the
event at the laptop: the commit clock of `make bench` lives in its own server, not in gunicorn),
the burst's duration, each process's memory, PostgreSQL's connections (the peak, sampled), and
whether every webhook and push went out exactly once. The bench's clients share the machine's
cores with the servers, as `make bench`'s do.
"""
import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import redis
from sqlalchemy import create_engine, text

from tests.support import PostgresDatabases, free_port

from .clients import BenchPushService, Learner
from .processes import ROOT, proc_status
from .report import percentile
from .sockets import SocketHub

PASSWORD, PIN = "bench-password-1", "2468"
REDIS_DB_INDEX = 12  # the classroom bench's own; emptied before and after
RESULTS = ROOT / "tests" / "bench" / "results"


def log(message):
    print(f"[classroom {time.strftime('%H:%M:%S')}] {message}", flush=True)


class ClassroomBench:
    def __init__(self, learners, web_processes, threads, database_server, redis_server):
        self.learners_wanted, self.web_processes, self.threads = learners, web_processes, threads
        self.workdir = Path(tempfile.mkdtemp(prefix="paylab-classroom-bench-"))
        self.databases = PostgresDatabases(database_server, "paylab_classbench").create()
        self.redis_url = f"{redis_server.rstrip('/')}/{REDIS_DB_INDEX}"
        redis.Redis.from_url(self.redis_url).flushdb()
        self.port, first_web = free_port(), free_port()
        self.public_url = f"http://localhost:{self.port}"
        self.env = dict(os.environ, **self.databases.settings(), **{
            "INSTANCE_PATH": str(self.workdir / "instance"), "PORT": str(self.port),
            "WEB_PORTS_FROM": str(first_web), "WEB_PROCESSES": str(web_processes), "PUBLIC_URL": self.public_url,
            "SOCKETIO_MESSAGE_QUEUE": self.redis_url, "SOCKETIO_CHANNEL": f"paylab-bench-{secrets.token_hex(4)}",
            "PUSH_SERVICE_HOSTS": "http://127.0.0.1"})
        self.stack = self.push = self.hub = None
        self.figures, self.samples = {}, {"connections": [], "rss": {}}
        self._sampling = threading.Event()

    # --- the stack -------------------------------------------------------------------------------------
    def start(self):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "release"], cwd=ROOT, env=self.env,
                       check=True, capture_output=True, timeout=300)
        self.people = self._open_accounts()
        self.figures["prepare_seconds"] = time.perf_counter() - started
        self.push = BenchPushService().start()
        self.stack_log = open(self.workdir / "classroom.log", "w")
        self.stack = subprocess.Popen([sys.executable, str(ROOT / "deploy" / "classroom.py")], cwd=ROOT,
                                      env=self.env, stdout=self.stack_log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while "PayLab for a class is running" not in (self.workdir / "classroom.log").read_text():
            if self.stack.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the classroom did not start:\n" + (self.workdir / "classroom.log").read_text()[-3000:])
            time.sleep(0.2)
        self.hub = SocketHub()
        log(f"classroom up on {self.public_url} ({self.web_processes} web processes)")

    def _open_accounts(self):
        """A PayLab ID and a bank customer per learner, written straight to the databases (as `make bench` does)."""
        from app import create_app
        from app.bank import cards as bank_cards
        from app.bank import services as bank_services
        from app.extensions import db
        from app.idp import services as idp_services
        from config import Config
        settings = dict(self.databases.settings(), SOCKETIO_MESSAGE_QUEUE=None, BACKGROUND_WORKERS=False)
        app = create_app(type("BenchPrep", (Config,), settings), instance_path=self.env["INSTANCE_PATH"])
        people, tag = [], secrets.token_hex(3)
        with app.app_context():
            for i in range(self.learners_wanted):
                email = f"class{i}-{tag}@example.co.za"
                idp_services.create_user(email, f"Learner {i}", PASSWORD)
                customer = bank_services.create_customer(f"class{i}-{tag}", PASSWORD, PIN, 100_000_000)
                people.append({"email": email, "password": PASSWORD, "username": customer.username, "pin": PIN,
                               "card": bank_cards.customer_card(customer).number})
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()
        return people

    def stop(self):
        self._sampling.set()
        if self.hub:
            self.hub.stop()
        if self.stack and self.stack.poll() is None:
            self.stack.send_signal(signal.SIGTERM)
            try:
                self.stack.wait(60)
            except subprocess.TimeoutExpired:
                self.stack.kill()
        if self.push:
            self.push.stop()
        self.databases.drop()
        client = redis.Redis.from_url(self.redis_url)
        client.flushdb()
        client.close()

    # --- what is measured ----------------------------------------------------------------------------
    def processes(self):
        """{name: pid} of the classroom's serving processes: the gunicorn workers, the worker, nginx's."""
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if "wsgi:app" in command and self._is_worker_of_arbiter(parent):
                port = command.split("-b 127.0.0.1:")[1].split()[0]
                found[f"web :{port}"] = int(entry.name)
            elif "bank worker" in command and self.env["INSTANCE_PATH"] in self._environ(entry):
                found["worker"] = int(entry.name)
            elif command.startswith("nginx: worker") and self._is_ours(parent):
                found.setdefault("nginx", int(entry.name))
        return found

    def _environ(self, entry):
        try:
            return (entry / "environ").read_bytes().decode(errors="replace")
        except OSError:
            return ""

    def _is_worker_of_arbiter(self, parent):
        try:
            command = Path(f"/proc/{parent}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return False
        return "gunicorn" in command and self.env["INSTANCE_PATH"] in self._environ(Path(f"/proc/{parent}"))

    def _is_ours(self, parent):
        try:
            return self.env["INSTANCE_PATH"] in Path(f"/proc/{parent}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return False

    def connections(self):
        engine = create_engine(self.databases.settings()["BANK_DATABASE_URL"])
        try:
            with engine.connect() as sql:
                return sql.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = ANY(:names)"),
                                   {"names": list(self.databases.names.values())}).scalar() - 1  # less this one
        finally:
            engine.dispose()

    def _sample(self):
        while not self._sampling.wait(0.5):
            try:
                self.samples["connections"].append(self.connections())
                for name, pid in self.processes().items():
                    rss = proc_status(pid)["rss_bytes"] / 2 ** 20
                    self.samples["rss"][name] = max(self.samples["rss"].get(name, 0), rss)
            except Exception as exc:  # a process between restarts: the next sample has it
                log(f"sample skipped: {exc}")

    def run(self):
        def enrol(person):
            learner = Learner(len(learners), self.public_url, person, self.push)
            learner.phone.enrol(with_passkey=False)
            return learner

        started = time.perf_counter()
        learners = []
        with ThreadPoolExecutor(12) as pool:
            for learner in pool.map(enrol, self.people):
                learners.append(learner)
        self.figures["enrol_seconds"] = time.perf_counter() - started
        log(f"{len(learners)} learners signed in and enrolled in {self.figures['enrol_seconds']:.1f} s")

        specs = []
        for learner in learners:
            shop_specs = learner.socket_specs(self.public_url)
            # A headers dict of its own: the client takes the Cookie out of the one it is given.
            walkthrough = (self.public_url, "/walkthrough", dict(shop_specs[0][2]), None, ())
            specs += [shop_specs[0], shop_specs[1], walkthrough]
        started = time.perf_counter()
        sockets = self.hub.connect_many(specs, concurrency=30)
        for i, learner in enumerate(learners):
            learner.laptop_socket, learner.phone_socket = sockets[3 * i], sockets[3 * i + 1]
        self.figures["sockets"] = sum(1 for s in sockets if s.connected)
        self.figures["connect_seconds"] = time.perf_counter() - started
        log(f"{self.figures['sockets']} sockets open in {self.figures['connect_seconds']:.1f} s")
        time.sleep(2)
        self.figures["idle_rss_mib"] = {name: proc_status(pid)["rss_bytes"] / 2 ** 20
                                        for name, pid in self.processes().items()}
        self.figures["idle_connections"] = self.connections()

        sampler = threading.Thread(target=self._sample, daemon=True)
        sampler.start()
        results, errors = [], Counter()

        def loop(learner):
            try:
                results.append(learner.full_loop("pin", event_timeout=60))
            except Exception as exc:
                errors[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1

        started = time.perf_counter()
        with ThreadPoolExecutor(self.threads) as pool:
            list(pool.map(loop, learners))
        self.figures["burst_seconds"] = time.perf_counter() - started
        self._sampling.set()
        sampler.join(5)
        approve_to_laptop = sorted(r["sent_to_event"] * 1000 for r in results)
        loops = sorted(r["loop_seconds"] for r in results)
        self.figures.update({
            "loops_ok": len(results), "errors": sum(errors.values()), "error_kinds": dict(errors.most_common(5)),
            "approve_to_laptop_ms": {"p50": percentile(approve_to_laptop, 0.5), "p99": percentile(approve_to_laptop, 0.99),
                                     "max": approve_to_laptop[-1] if approve_to_laptop else None},
            "loop_seconds": {"p50": percentile(loops, 0.5), "p99": percentile(loops, 0.99)},
            "peak_connections": max(self.samples["connections"], default=None),
            "peak_rss_mib": self.samples["rss"],
            "sockets_still_open": sum(1 for s in sockets if s.connected),
            "socket_disconnects": sum(s.disconnects for s in sockets),
        })
        self.figures.update(self._exactly_once())

    def _exactly_once(self):
        engine = create_engine(self.databases.settings()["BANK_DATABASE_URL"])
        try:
            with engine.connect() as sql:
                webhooks = sql.execute(text("SELECT count(*), count(delivered_at), coalesce(sum(attempt_count), 0) "
                                            "FROM webhook_events")).one()
        finally:
            engine.dispose()
        pushes = Counter(m["payload"]["id"] for m in self.push.messages if m["payload"].get("type") == "payment_request")
        return {"webhook_events": webhooks[0], "webhooks_delivered": webhooks[1], "webhook_attempts": int(webhooks[2]),
                "payments_pushed": len(pushes), "pushes_more_than_once": sum(1 for n in pushes.values() if n > 1)}


def report(figures, args):
    lines = [f"PayLab for a class: {args.learners} learners, {args.web_processes} web processes (gevent) + worker + "
             f"nginx, PostgreSQL and Redis; {args.threads} learners at a time in the burst",
             f"  sockets open:            {figures['sockets']} (in {figures['connect_seconds']:.1f} s); still open "
             f"after the burst {figures['sockets_still_open']}, disconnects {figures['socket_disconnects']}",
             f"  burst:                   {figures['loops_ok']} full loops in {figures['burst_seconds']:.1f} s "
             f"({figures['loops_ok'] / figures['burst_seconds']:.1f}/s), errors {figures['errors']} "
             f"{figures['error_kinds'] or ''}",
             f"  approve → laptop:        p50 {figures['approve_to_laptop_ms']['p50']:.0f} ms, p99 "
             f"{figures['approve_to_laptop_ms']['p99']:.0f} ms, max {figures['approve_to_laptop_ms']['max']:.0f} ms",
             f"  one learner's loop:      p50 {figures['loop_seconds']['p50']:.2f} s, p99 {figures['loop_seconds']['p99']:.2f} s",
             f"  webhooks:                {figures['webhooks_delivered']} of {figures['webhook_events']} delivered, "
             f"{figures['webhook_attempts']} attempts; payments pushed {figures['payments_pushed']}, "
             f"more than once {figures['pushes_more_than_once']}",
             f"  PostgreSQL connections:  idle {figures['idle_connections']}, peak {figures['peak_connections']}",
             "  memory (MiB), idle / peak: " + ", ".join(
                 f"{name} {figures['idle_rss_mib'].get(name, 0):.0f} / {figures['peak_rss_mib'].get(name, 0):.0f}"
                 for name in sorted(set(figures["idle_rss_mib"]) | set(figures["peak_rss_mib"])))]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=300)
    parser.add_argument("--web-processes", type=int, default=3)
    parser.add_argument("--threads", type=int, default=30, help="learners looping at once in the burst")
    parser.add_argument("--database-server", default=os.environ.get("TEST_DATABASE_URL")
                        or "postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-server", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379")
    args = parser.parse_args(argv)
    bench = ClassroomBench(args.learners, args.web_processes, args.threads, args.database_server, args.redis_server)
    try:
        bench.start()
        bench.run()
    finally:
        bench.stop()
    text_report = report(bench.figures, args)
    print(text_report, flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"classroom-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps({"args": vars(args), "figures": bench.figures}, indent=2, default=str))
    print(f"written: {out}")
    return 0 if bench.figures["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""The processes `make bench` starts, and what it reads about them from /proc.

PayLab (tests/bench/server.py: wsgi.py with the bench's settings) and the floor
(tests/bench/floor.py) each run as a separate OS process on a free port, their output in a
log file, so that the bench measures them from outside, as a browser sees a server. Every
process started here is stopped by the bench, by its own pid (or its own process group).
"""
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support import ProcessExited, stop_process, wait_until_serving

ROOT = Path(__file__).resolve().parents[2]


def _die_with_the_bench():
    """In the child, before exec: SIGTERM it when the bench dies, however it dies (Linux's PR_SET_PDEATHSIG).

    The signal follows the thread that started the child, so the bench starts servers from its main thread."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass


class ServerProcess:
    """A server process on its own port; `ready_path` answers 200 once it serves."""

    def __init__(self, name, args, port, log_path, env=None, ready_path="/"):
        self.name, self.port, self.ready_path = name, port, ready_path
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "wb")
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self._log,
                                        stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                        preexec_fn=_die_with_the_bench)

    @property
    def pid(self):
        return self.process.pid

    def wait_ready(self, timeout=60.0):
        """Poll until the ready path answers 200; returns the seconds since the process was started."""
        try:
            if wait_until_serving(self.process, self.url + self.ready_path, timeout, interval=0.02):
                return time.perf_counter() - self.started_at
        except ProcessExited as exc:
            raise RuntimeError(f"{self.name} {exc}; see {self.log_path}") from None
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s; see {self.log_path}")

    def stop(self, timeout=10.0):
        stop_process(self.process, timeout)
        self._log.close()


def start_paylab(instance, settings, log_path):
    """PayLab on settings["PORT"], counting its SQL (PAYLAB_COUNT_QUERIES=1, see tests/bench/counters.py)."""
    server = ServerProcess("PayLab", [sys.executable, "-m", "tests.bench.server", str(instance), json.dumps(settings)],
                           settings["PORT"], log_path,
                           env={"PAYLAB_COUNT_QUERIES": "1",
                                "SOCKETIO_ASYNC_MODE": settings.get("SOCKETIO_ASYNC_MODE") or "threading"},
                           ready_path="/bank/api/openapi.json")
    return server


def start_floor(port, database_path, log_path):
    return ServerProcess("floor", [sys.executable, "-m", "tests.bench.floor", str(port), str(database_path)], port,
                         log_path)


def proc_status(pid):
    """VmRSS (bytes) and Threads of a live process, from /proc/<pid>/status (Linux)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return {"rss_bytes": int(fields["VmRSS"].split()[0]) * 1024, "threads": int(fields["Threads"])}


def cpu_seconds(pid="self"):
    """User + system CPU time a process has used so far (/proc/<pid>/stat), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_of(pid):
    """Pids whose parent is `pid` (from /proc), to check that nothing outlived the bench."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def stop_process_group(process, timeout=10.0):
    """SIGTERM a process group the bench started (start_new_session=True), then SIGKILL what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            continue
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # make has exited; its children may still be on their way out
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

"""P4: `make run` on a clone that is already set up → the first 200, beside the floor's process start.

The clone is this working tree as it is now (tracked and untracked files, not the ignored ones),
copied with their timestamps so that make sees the setup as done, with `.venv` and
`node_modules` linked from here. Its first `make run` migrates and seeds a fresh instance/;
the figure is each start after that (the second start and on), timed from spawning
`make run` until GET / (redirects followed) answers 200. Each start is then stopped, its whole
process group, so no server outlives it.
"""
import os
import shutil
import subprocess
import time
from pathlib import Path

import requests

from .processes import ROOT, start_floor, stop_process_group

LINKED = (".venv", "node_modules")


def make_clone(target):
    """Copy the working tree's files into `target` (timestamps kept) and link the set-up folders."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listing):
        source = ROOT / name
        if not source.is_file() or name.split("/", 1)[0] in LINKED:
            continue  # deleted in the working tree but still in the index, or one of the linked folders
        destination = Path(target) / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
    for name in LINKED:
        os.symlink(ROOT / name, Path(target) / name)
    return Path(target)


class SetupNotDone(RuntimeError):
    """`make run` in the clone would install into the linked .venv or node_modules (its stamps are older
    than requirements.txt or package.json): that would change this checkout's own folders (npm ci
    empties node_modules first), so P4 is not measured."""


def check_setup_is_done(clone):
    """Raise SetupNotDone unless make sees nothing to install in the clone (`make -q setup`)."""
    answer = subprocess.run(["make", "-q", "setup"], cwd=clone, env=_clean_environment(0), capture_output=True)
    if answer.returncode != 0:
        raise SetupNotDone("run `make setup` first: make run would install into the linked .venv or node_modules")


def _clean_environment(port):
    """The environment a person's shell would give `make run`: none of make bench's own make variables."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")
           and not k.startswith("PAYLAB_")}
    env["PORT"] = str(port)
    return env


def time_make_run(clone, port, log_path, timeout=120.0):
    """Seconds from spawning `make run` until GET / answers 200; the server is stopped afterwards."""
    with open(log_path, "ab") as log:
        started = time.perf_counter()
        process = subprocess.Popen(["make", "run"], cwd=clone, env=_clean_environment(port), stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return _first_200(f"http://127.0.0.1:{port}/", started, process, timeout)
        finally:
            stop_process_group(process)


def _first_200(url, started, process, timeout):
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before answering")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return time.perf_counter() - started
        except requests.RequestException:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"no 200 from {url} within {timeout:.0f} s")


def time_floor_start(port, workdir, log_path):
    """Seconds from spawning the floor process until GET / answers 200."""
    floor = start_floor(port, Path(workdir) / f"floor-start-{port}.sqlite", log_path)
    try:
        return floor.wait_ready(timeout=60)
    finally:
        floor.stop()

"""Every command the README or a page tells a learner to run works when pasted into a fresh clone.

A fresh clone is made once for this module: a copy of the project's files (what git tracks, and new
files not added yet), without instance/, .venv or node_modules. Each command runs there, with bash,
in a clean environment (the system's PATH only: no virtualenv activated, no PayLab setting), and the
README's commands run in the README's order.

Two shortcuts keep it quick, and neither can hide a failure:
- `make` builds .venv and node_modules itself (`make -n` in the clone shows that it would), so the
  clone gets them ready-made for `make` commands: .venv is linked to this checkout's packages, with
  the clone's own "installed" stamps, so nothing is ever installed into this checkout's .venv.
  A command that is not `make` runs with no .venv at all, as in a fresh clone: `.venv/bin/flask …`
  or a bare `flask …` fails here as it fails there.
- What cannot run to completion here is checked instead, each as said where it is done: `make run`
  is started, must answer, and is stopped (on a free port: 8000 may be in use on this machine);
  `make run` with settings before it is dry-run (`make -n`) and its settings must be PayLab's; the
  test suite itself (`make test`, `make fuzz`, `make screenshots`) and a class's stack (`make classroom`,
  which needs PostgreSQL and Redis; test_classroom.py runs it) are dry-run; tunnels (cloudflared,
  Tailscale, ngrok) need their program and an account, so only the address they forward to is checked.
A placeholder the reader fills in from an earlier command's output (`mch_…`, the client id that
`create-merchant` printed) is filled in the same way.
"""
import html
import os
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

import config
from app import create_app
from app.bank import cards as bank_cards
from app.bank.models import Customer
from app.extensions import db
from config import DEFAULT_PORT, TestConfig

from ..support import csrf_token, free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# How a command a learner runs starts; any other code span is a name, a path or a setting.
PROGRAMS = ("make", "flask", "python", "python3", "pip", "npm", "cloudflared", "tailscale", "ngrok")
TUNNELS = ("cloudflared", "tailscale", "ngrok")
SUITE_TARGETS = ("test", "test-postgresql", "fuzz", "screenshots", "bench", "bench-quick", "bench-classroom")  # this suite, or minutes long: dry-run only
# A class's stack needs the PostgreSQL and Redis its settings name: dry-run here, and started for real, as
# deploy/classroom.py, by test_classroom.py on databases and a Redis of its own.
SERVICE_TARGETS = ("classroom",)
SETTING = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*", re.DOTALL)
CLEAN_PATH = "/usr/local/bin:/usr/bin:/bin"
PLACEHOLDER_WARNING = "VAPID_SUBJECT uses the placeholder host"


# What the documents show ----------------------------------------------------------------------------


def split_command(command):
    """(settings, words): the VAR=value words a shell puts in the command's environment, and the rest."""
    words = shlex.split(command)
    settings = {}
    while words and SETTING.fullmatch(words[0]):
        name, _, value = words.pop(0).partition("=")
        settings[name] = value
    return settings, words


def is_command(text):
    """A line a learner runs: a program (or a path to one, like .venv/bin/flask) and what it should do.

    A setting alone (`PROXY_FIX_HOPS=1`) is not one, nor a program's bare name ("you need `make`").
    """
    try:
        settings, words = split_command(text)
    except ValueError:
        return False
    return bool(words) and (words[0] in PROGRAMS or words[0].startswith((".venv/", "./"))) and \
        len(settings) + len(words) > 1


def without_comment(line):
    return re.sub(r"\s+#\s.*$", "", line).strip()


def readme_commands(text):
    """Each command in the README, in order: lines of its ```sh blocks, and command-like `code spans`."""
    commands, fence = [], None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:].strip()
            continue
        if fence is not None:
            if fence in ("sh", "bash", "shell", "console") and is_command(without_comment(stripped)):
                commands.append(without_comment(stripped))
            continue
        commands += [span for span in re.findall(r"`([^`]+)`", line) if is_command(span)]
    return list(dict.fromkeys(commands))  # once each, first mention first


def page_commands(page):
    """The commands a page shows, in <code> or <pre>."""
    texts = re.findall(r"<(?:code|pre)[^>]*>(.*?)</(?:code|pre)>", page, re.DOTALL)
    texts = [" ".join(html.unescape(re.sub(r"<[^>]+>", "", text)).split()) for text in texts]
    return list(dict.fromkeys(text for text in texts if is_command(text)))


# A fresh clone ------------------------------------------------------------------------------------


def project_files():
    """The files a clone would have: git's tracked and new files (git ignores instance/, .venv …)."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, check=True).stdout.decode()
    return [name for name in listing.split("\0") if name and (ROOT / name).is_file()]


class Clone:
    """A fresh clone of the project in `path`, and a way to run commands in it as a learner would."""

    def __init__(self, path, packages):
        self.path, self.packages = path, packages

    def use_venv(self, present):
        """`make` sets up .venv itself; anything else finds none, as in a fresh clone."""
        venv = self.path / ".venv"
        if present and not venv.exists():
            venv.symlink_to(self.packages)
        elif not present and venv.is_symlink():
            venv.unlink()

    def environment(self, **settings):
        env = {"PATH": CLEAN_PATH, "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}
        return {**env, **settings}

    def run(self, command, timeout=900, **settings):
        """Run `command` as pasted into a terminal in the clone's top folder."""
        self.use_venv(split_command(command)[1][:1] == ["make"])
        return subprocess.run(["bash", "-c", command], cwd=self.path, env=self.environment(**settings),
                              capture_output=True, text=True, timeout=timeout)

    def sqlite(self, name):
        return sqlite3.connect(self.path / "instance" / f"{name}.sqlite")

    def has_table(self, database, table):
        if not (self.path / "instance" / f"{database}.sqlite").exists():
            return False
        with self.sqlite(database) as connection:
            return connection.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone() is not None


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    if not (ROOT / ".venv").is_dir() or not (ROOT / "node_modules").is_dir():
        pytest.skip("needs the set-up .venv and node_modules (make setup)")
    where = tmp_path_factory.mktemp("fresh-clone")
    path = where / "paylab"
    for name in project_files():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, path / name)
    shutil.copytree(ROOT / "node_modules", path / "node_modules", symlinks=True)
    (path / "node_modules" / ".installed").touch()
    # Packages ready-made for `make`: this checkout's, behind stamps of the clone's own (newer than
    # requirements.txt), so `make` never installs anything into this checkout's .venv.
    packages = where / "packages"
    packages.mkdir()
    for entry in (ROOT / ".venv").iterdir():
        if entry.name in (".runtime-installed", ".test-installed"):
            continue
        if entry.name == "pyvenv.cfg":
            shutil.copy2(entry, packages / entry.name)
        else:
            (packages / entry.name).symlink_to(entry.resolve() if not entry.is_symlink() else os.readlink(entry))
    (packages / ".runtime-installed").touch()
    (packages / ".test-installed").touch()
    return Clone(path, packages)


# Checking one command ------------------------------------------------------------------------------


def make_target(words):
    targets = [word for word in words[1:] if not word.startswith("-") and "=" not in word]
    return targets[0] if targets else "help"


def dry_run(command):
    """The same command with `make -n`: make says what it would do, and fails on an unknown target."""
    return re.sub(r"(^|\s)make(\s|$)", r"\1make -n\2", command, count=1)


def unknown_settings(command):
    """Settings before the command that PayLab does not read, and make variables the Makefile lacks."""
    settings, words = split_command(command)
    makefile = (ROOT / "Makefile").read_text()
    unknown = [name for name in settings if not hasattr(config.Config, name)]
    unknown += [word.partition("=")[0] for word in words[1:] if SETTING.fullmatch(word)
                and f"$({word.partition('=')[0]})" not in makefile]
    return unknown


def tunnel_problem(words, local_url):
    """A tunnel command must forward to where this PayLab listens: `local_url` (scheme, host, port)."""
    local = urlsplit(local_url)
    loopback = ("127.0.0.1", "localhost")
    if words[:3] == ["cloudflared", "tunnel", "--url"] and len(words) == 4:
        target = urlsplit(words[3])
        if (target.scheme, target.hostname, target.port) == (local.scheme, local.hostname, local.port) or \
                (target.hostname in loopback and local.hostname in loopback and target.port == local.port):
            return None
    elif words[:2] in (["tailscale", "funnel"], ["ngrok", "http"]) and len(words) == 3:
        host, _, port = words[2].rpartition(":")
        if port == str(local.port) and host in ("", *loopback) and local.hostname in loopback:
            return None
    return f"does not forward to {local_url}"


def listening_addresses(port):
    """The local addresses with a listening TCP socket on `port`, read from /proc (Linux)."""
    addresses = set()
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state != "0A" or int(hex_port, 16) != port:
                continue
            raw = bytes.fromhex(address)
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))  # each 32-bit word is host-order
            addresses.add(socket.inet_ntop(socket.AF_INET if width == 4 else socket.AF_INET6, raw))
    return addresses


def start_answer_and_stop(clone, command, timeout=600):
    """Start a server command, wait for the shop to answer, note where it listens, stop it."""
    port = free_port()
    clone.use_venv(True)
    log_path = clone.path.parent / f"server-{port}.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(["bash", "-c", command], cwd=clone.path, stdout=log, stderr=subprocess.STDOUT,
                                  env=clone.environment(PORT=str(port)), start_new_session=True)
    problems, addresses = [], set()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if requests.get(f"http://127.0.0.1:{port}/shop/", timeout=5).status_code == 200:
                    addresses = listening_addresses(port)
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        else:
            problems.append("the server never answered at /shop/")
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # the group this test started: make and its server
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
    output = log_path.read_text()
    if addresses - {"127.0.0.1", "::1"}:
        problems.append(f"listens on {sorted(addresses)}, not on this computer only")
    if PLACEHOLDER_WARNING in output:
        problems.append("warns about the VAPID placeholder although PUBLIC_URL is localhost")
    return problems, output


def check_command(clone, command, local_url, outputs):
    """Run or check one command as the module docstring says. Returns (problem or None, output)."""
    command = fill_in(command, outputs)
    settings, words = split_command(command)
    if words[0] in TUNNELS:
        return tunnel_problem(words, local_url), ""
    if words[0] == "make" and make_target(words) == "run" and not settings:
        problems, output = start_answer_and_stop(clone, command)
        return "; ".join(problems) or None, output
    if words[0] == "make" and (make_target(words) == "run" or make_target(words) in SUITE_TARGETS + SERVICE_TARGETS):
        if unknown_settings(command):
            return f"sets what PayLab does not read: {unknown_settings(command)}", ""
        command = dry_run(command)
    result = clone.run(command)
    output = result.stdout + result.stderr
    return (None if result.returncode == 0 else f"exit status {result.returncode}"), output


def fill_in(command, outputs):
    """The one value a reader copies from an earlier command's output: the client id it printed."""
    client_ids = re.findall(r'"client_id": "(mch_[0-9a-f]+)"', "\n".join(outputs))
    return command.replace("mch_…", client_ids[-1]) if client_ids else command


def check_commands(clone, commands, local_url):
    """Check each command in order; return the failures, each with the end of its output."""
    failures, outputs = [], []
    for command in commands:
        problem, output = check_command(clone, command, local_url, outputs)
        outputs.append(output)
        if problem:
            failures.append(f"$ {command}\n  -> {problem}\n{output[-1500:]}")
    return failures


# The tests --------------------------------------------------------------------------------------------


@pytest.mark.timeout(1800)
def test_every_command_in_the_readme_works_in_a_fresh_clone(clone):
    """Issue 10: `flask …` is not on a clean PATH, and .venv/bin/flask is not in a fresh clone."""
    commands = readme_commands(README.read_text())
    assert any(command.startswith("make run") for command in commands), commands
    failures = check_commands(clone, commands, f"http://127.0.0.1:{DEFAULT_PORT}")
    assert not failures, "\n\n".join(failures)


def test_make_sets_up_what_a_fresh_clone_lacks(clone):
    """The shortcut above is honest: in a clone without .venv, make would create it and install."""
    clone.use_venv(False)
    result = subprocess.run(["make", "-n", "-W", "package.json", "setup"], cwd=clone.path, capture_output=True,
                            text=True, env=clone.environment(), timeout=60)
    assert result.returncode == 0, result.stderr
    for step in ("-m venv .venv", "pip install", "npm ci"):
        assert step in result.stdout, result.stdout


@pytest.mark.timeout(600)
@pytest.mark.parametrize("settings", [
    {"PORT": 8123, "PUBLIC_URL": "http://localhost:8123", "INTERNAL_URL": "http://127.0.0.1:8123"},
    {"PORT": 8000, "PUBLIC_URL": "https://paylab.trycloudflare.com", "INTERNAL_URL": "http://127.0.0.1:8000",
     "VAPID_SUBJECT": "mailto:teacher@school.ac.za", "PROXY_FIX_HOPS": 1},
], ids=["another-port", "behind-a-tunnel"])
def test_the_setup_guide_shows_working_commands_for_this_instance(clone, tmp_path, settings):
    """The in-app guide (/bank/app/setup) knows where this PayLab runs: its tunnels go there, and the
    command to restart behind a tunnel keeps the port and sets PUBLIC_URL and a real VAPID_SUBJECT."""
    app = create_app(type("Config", (TestConfig,), settings), instance_path=str(tmp_path / "instance"))
    page = app.test_client().get("/bank/app/setup")
    assert page.status_code == 200
    commands = page_commands(page.get_data(as_text=True))
    assert {split_command(command)[1][0] for command in commands} >= set(TUNNELS), commands
    port = settings["PORT"]
    if port != DEFAULT_PORT:
        assert not [command for command in commands if str(DEFAULT_PORT) in command], commands
    restarts = [split_command(command)[0] for command in commands if split_command(command)[1][:2] == ["make", "run"]]
    assert restarts, f"no command to restart PayLab behind the tunnel: {commands}"
    for restart in restarts:
        assert restart.get("PORT", str(DEFAULT_PORT)) == str(port), restart
        assert restart["PUBLIC_URL"].startswith("https://") and restart["PROXY_FIX_HOPS"] == "1", restart
        assert re.fullmatch(r"mailto:[^@\s]+@[^@\s]+", restart.get("VAPID_SUBJECT", "")), restart
        if settings["PUBLIC_URL"].startswith("https://"):  # already behind one: its own values, no placeholder
            assert (restart["PUBLIC_URL"], restart["VAPID_SUBJECT"]) == (settings["PUBLIC_URL"],
                                                                        settings["VAPID_SUBJECT"])
    failures = check_commands(clone, commands, settings["INTERNAL_URL"])
    assert not failures, "\n\n".join(failures)


@pytest.mark.timeout(600)
def test_the_locked_card_text_shows_a_command_that_unlocks_the_card(clone, app, client):
    """A learner who locks their card (5 wrong PINs) is told how the bank, which is them, unlocks it."""
    thandi = db.session.scalar(db.select(Customer).where(Customer.username == "thandi"))
    card = bank_cards.customer_card(thandi)
    card.status, card.failed_pin_attempts = "blocked", 5
    db.session.commit()
    login = client.get("/bank/app/login").get_data(as_text=True)
    client.post("/bank/app/login", data={"csrf_token": csrf_token(login), "username": "thandi",
                                         "password": "paylab-demo"})
    home = client.get("/bank/app/").get_data(as_text=True)
    assert 'data-testid="card-locked"' in home
    shown = page_commands(home) + [span for span in re.findall(r"`([^`]+)`", bank_cards.LOCKED_MESSAGE)
                                   if is_command(span)]
    assert shown, "the locked card's text shows no command that unlocks it"

    # The same card locked in the fresh clone's bank (after the set-up any make command does first)…
    if not clone.has_table("bank", "cards"):
        assert clone.run("make db").returncode == 0
    for command in shown:
        with clone.sqlite("bank") as bank:
            bank.execute("UPDATE cards SET status = 'blocked', failed_pin_attempts = 5 WHERE customer_id = "
                         "(SELECT id FROM customers WHERE username = 'thandi')")
        result = clone.run(command)
        assert result.returncode == 0, f"$ {command}\n{result.stdout[-1500:]}{result.stderr[-1500:]}"
        # … is unlocked by each command shown.
        with clone.sqlite("bank") as bank:
            assert bank.execute("SELECT status, failed_pin_attempts FROM cards WHERE customer_id = (SELECT id "
                                "FROM customers WHERE username = 'thandi')").fetchone() == ("active", 0), command


def test_the_readme_names_every_database_file(tmp_path):
    """Each SQLite file PayLab creates in instance/ is named in the README (the walkthrough's too)."""
    create_app(TestConfig, instance_path=str(tmp_path / "instance"))
    files = sorted(path.name for path in (tmp_path / "instance").glob("*.sqlite"))
    assert len(files) >= 4, files
    text = README.read_text()
    assert [name for name in files if f"instance/{name}" not in text] == []

"""deploy/classroom.py's pieces without starting a class: the nginx configuration it writes is one nginx
accepts, its settings are checked, and a process that keeps dying is retried slowly, not given up on."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))
import classroom  # noqa: E402  (deploy/ is not a package: the launcher is a script)


def test_the_rendered_configuration_is_one_nginx_accepts(tmp_path):
    settings = classroom.classroom_settings({"WEB_PROCESSES": "3", "PORT": "9000"})
    conf = classroom.render_nginx_conf(settings, tmp_path, 4096)
    text = conf.read_text()
    assert "server 127.0.0.1:9001" in text and "server 127.0.0.1:9003" in text and "listen 127.0.0.1:9000" in text
    assert "ip_hash" not in text.replace("never ip_hash", "")  # stickiness by cookie only
    result = subprocess.run([classroom.nginx_binary(), "-t", "-p", str(tmp_path), "-c", str(conf), "-e", "stderr"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("environ, says", [({"WEB_PROCESSES": "many"}, "are numbers"),
                                           ({"WEB_PROCESSES": "0"}, "between 1 and 32")])
def test_settings_that_cannot_be_used_are_named(environ, says):
    with pytest.raises(classroom.CannotStart, match=says):
        classroom.classroom_settings(environ)


def test_a_process_that_keeps_dying_is_retried_every_half_minute_and_the_class_goes_on(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(classroom.time, "monotonic", lambda: clock[0])
    child = classroom.Child("web-1", [sys.executable, "-c", "raise SystemExit(3)"], None)
    starts = []
    monkeypatch.setattr(child, "start", lambda: starts.append(clock[0]))
    child.process = type("Dead", (), {"poll": lambda self: 3, "returncode": 3})()
    for _ in range(20):  # checked every half second for ten seconds: restarted at once, five times, then not
        child.restart_if_dead()
        clock[0] += 0.5
    assert len(starts) == classroom.RESTARTS_ALLOWED + 1
    clock[0] = starts[-1] + classroom.CRASH_LOOP_WAIT
    child.restart_if_dead()  # half a minute later: once more, and the launcher never stopped the others
    assert len(starts) == classroom.RESTARTS_ALLOWED + 2

"""`make bench-quick` still works: it completes, prints its table and writes every figure to its JSON.

It asserts nothing about speed: the figures are for people to read (and issue 11's targets are
judged in the full `make bench`), so a slow machine must never fail this test.
"""
import json
import os
import subprocess
import sys

import pytest

from tests.bench.run import ROOT

# The second server the bench can measure: gevent, which needs PostgreSQL (app/extensions.py). This
# machine's server by default; the bench makes its own databases there and drops them.
POSTGRES = os.environ.get("TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
SERVERS = {"threading-sqlite": [], "gevent-postgresql": ["--async-mode", "gevent", "--database-server", POSTGRES]}

FIGURES = ("P1", "P2", "P3", "P4", "P5", "P6", "SQL statements per full loop", "Commits per full loop",
           "PIN-check ceiling")


@pytest.mark.timeout(900)
@pytest.mark.parametrize("server", SERVERS)
def test_the_quick_bench_completes_and_reports_every_figure(tmp_path, server):
    out = tmp_path / "bench.json"
    bench = subprocess.Popen([sys.executable, "-m", "tests.bench", "--quick", "--out", str(out), *SERVERS[server]],
                             cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = bench.communicate(timeout=840)
    except subprocess.TimeoutExpired:
        bench.terminate()  # SIGTERM: the bench stops its servers and sockets on the way out
        stdout, stderr = bench.communicate(timeout=60)
        pytest.fail("the quick bench did not finish within 14 minutes:\n" + stdout[-3000:] + stderr[-3000:])
    assert bench.returncode == 0, stdout[-3000:] + stderr[-3000:]
    assert "Figure" in stdout and "Floor" in stdout and "Ratio" in stdout
    assert f"JSON: {out}" in stdout

    document = json.loads(out.read_text())
    figures = document["figures"]
    for prefix in FIGURES:
        assert any(f["figure"].startswith(prefix) for f in figures), f"no {prefix} figure"
    unmeasured = {f["figure"]: f["not_measured"] for f in figures if f["paylab"] is None}
    assert not unmeasured, unmeasured
    for figure in figures:
        assert figure["figure"] in document["table"]
    assert document["details"]["leftover_processes"] == []
    assert (document["async_mode"], document["database"]) == tuple(server.split("-"))

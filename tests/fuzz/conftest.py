"""Fixtures for the fuzz tests: a server of their own, real credentials, and a budget.

The budget is the number of generated cases per fuzzed operation or route. `make test`
runs each test's small default (a few hundred cases, well within a minute) with a fixed
seed, so the suite is the same on every run; `make fuzz` multiplies the budgets by
PAYLAB_FUZZ_SCALE and lets hypothesis pick new cases each time. Each test's case count
and time are printed at the end of the run, so a report can quote them.
"""
import os
import time
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, settings

from ..support import LiveServer

FUZZ_SCALE = int(os.environ.get("PAYLAB_FUZZ_SCALE", "1"))
_tallies = defaultdict(lambda: {"cases": 0, "seconds": 0.0})


def fuzz_settings(examples):
    """Hypothesis settings for `examples` cases per operation or route, scaled for `make fuzz`."""
    return settings(max_examples=examples * FUZZ_SCALE, derandomize=FUZZ_SCALE == 1, deadline=None,
                    database=None, suppress_health_check=list(HealthCheck))


class CaseTally:
    """Counts the cases a fuzz test sent; the total and the time go in the run's summary."""

    def __init__(self, name):
        self.name = name

    def count(self, label=None):
        _tallies[self.name]["cases"] += 1
        if label:
            _tallies[f"{self.name} · {label}"]["cases"] += 1


@pytest.fixture
def case_tally(request):
    tally = CaseTally(request.node.originalname)  # one line per fuzz test, over all its routes or operations
    started = time.monotonic()
    yield tally
    _tallies[tally.name]["seconds"] += time.monotonic() - started


def pytest_terminal_summary(terminalreporter):
    if not _tallies:
        return
    terminalreporter.section("fuzz cases")
    for name, tally in sorted(_tallies.items()):
        seconds = f" in {tally['seconds']:.1f} s" if tally["seconds"] else ""
        terminalreporter.write_line(f"{name}: {tally['cases']} cases{seconds}")


@pytest.fixture(scope="session")
def fuzz_server(tmp_path_factory):
    """A PayLab of its own: what the fuzzers leave behind (locked cards, odd orders) touches no other test.

    Its rate limits are off: a 429 answers before a view reads its input, so it would hide
    the very code the fuzz is for (the limits have tests of their own).
    """
    server = LiveServer(tmp_path_factory.mktemp("fuzz") / "instance", RATELIMIT_ENABLED=False).start()
    yield server
    server.stop()

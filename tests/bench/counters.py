"""Count the SQL statements and commits a PayLab process makes, and clock its approvals' commits, for
`make bench`.

The bench drives PayLab from outside, so it cannot see its database work directly. Its
entry point (tests/bench/server.py) installs these SQLAlchemy event hooks in the PayLab
process when PAYLAB_COUNT_QUERIES=1 and registers GET /_bench/counters, which the bench
reads before and after a loop, and GET /_bench/approval-commits, the moment each approval's
commit was issued (P1 is timed from it). Nothing in app/ knows about it.
"""
import os
import re
import threading
import time
from collections import Counter

from flask import has_request_context, jsonify, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

COUNTERS_PATH = "/_bench/counters"
APPROVAL_COMMITS_PATH = "/_bench/approval-commits"
APPROVING = re.compile(r"^\s*UPDATE payment_requests SET status", re.IGNORECASE)


class ApprovalCommitClock:
    """When each approval's commit was issued: `time.perf_counter()`, which is CLOCK_MONOTONIC on Linux,
    one clock for every process of the machine, so the bench compares it with its sockets' stamps.

    The approval is the conditional UPDATE that claims a payment request for "approved"
    (services._claim); the clock is read as that connection's transaction commits (the
    engine's commit event comes just before the database's COMMIT, so its own time is counted).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.committed = {}  # payment request id -> perf_counter

    @staticmethod
    def approved_request(statement, parameters):
        """The id of the request this statement claims for "approved", or None."""
        if not APPROVING.match(statement):
            return None
        values = list(parameters.values()) if isinstance(parameters, dict) else list(parameters or ())
        if "approved" not in values:
            return None
        return next((v for v in values if isinstance(v, str) and v.startswith("pr_")), None)

    def statement(self, connection, statement, parameters):
        request_id = self.approved_request(statement, parameters)
        if request_id:
            connection.info["bench_approving"] = request_id

    def commit(self, connection):
        request_id = connection.info.pop("bench_approving", None)
        if request_id:
            with self._lock:
                self.committed[request_id] = time.perf_counter()

    def rollback(self, connection):
        connection.info.pop("bench_approving", None)

    def take(self):
        """Every commit clocked since the last call (the bench reads them after each P1 run)."""
        with self._lock:
            taken, self.committed = self.committed, {}
        return taken


class QueryCounters:
    """Statements (by database and verb, and by origin) and commits/rollbacks (by database), thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self.statements = Counter()
        self.commits = Counter()
        self.rollbacks = Counter()
        self.origins = Counter()  # (origin, "statements" | "commits") -> count

    @staticmethod
    def _origin():
        """Who sent it: the request's endpoint and method, else the thread's name (a worker)."""
        if has_request_context():
            return f"{request.method} {request.endpoint or request.path}"
        return re.sub(r"[_-]\d+$", "", threading.current_thread().name)

    @staticmethod
    def _database(connection):
        name = connection.engine.url.database or connection.engine.url.drivername
        return os.path.splitext(os.path.basename(name))[0] or "memory"

    def statement(self, connection, statement):
        verb = (statement.lstrip().split(None, 1) or ["?"])[0].upper()
        origin = self._origin()
        with self._lock:
            self.statements[(self._database(connection), verb)] += 1
            self.origins[(origin, "statements")] += 1

    def commit(self, connection):
        origin = self._origin()
        with self._lock:
            self.commits[self._database(connection)] += 1
            self.origins[(origin, "commits")] += 1

    def rollback(self, connection):
        with self._lock:
            self.rollbacks[self._database(connection)] += 1

    def snapshot(self):
        with self._lock:
            by_database = {}
            for (database, verb), count in self.statements.items():
                by_database.setdefault(database, {"statements": 0, "commits": 0, "by_verb": {}})
                by_database[database]["statements"] += count
                by_database[database]["by_verb"][verb] = count
            for database, count in self.commits.items():
                by_database.setdefault(database, {"statements": 0, "commits": 0, "by_verb": {}})["commits"] = count
            by_origin = {}
            for (origin, kind), count in self.origins.items():
                by_origin.setdefault(origin, {"statements": 0, "commits": 0})[kind] = count
            return {"statements": sum(self.statements.values()), "commits": sum(self.commits.values()),
                    "rollbacks": sum(self.rollbacks.values()), "by_database": by_database, "by_origin": by_origin}


def install_query_counters(app):
    """Hook every SQLAlchemy engine (class-level events) and serve the counts at COUNTERS_PATH."""
    counters = QueryCounters()
    clock = ApprovalCommitClock()

    @event.listens_for(Engine, "before_cursor_execute")
    def count_statement(connection, cursor, statement, parameters, context, executemany):
        counters.statement(connection, statement)
        clock.statement(connection, statement, parameters)

    @event.listens_for(Engine, "commit")
    def count_commit(connection):
        clock.commit(connection)
        counters.commit(connection)

    @event.listens_for(Engine, "rollback")
    def count_rollback(connection):
        clock.rollback(connection)
        counters.rollback(connection)

    def bench_counters():
        """The bench's own door: what this process has sent to its databases so far."""
        return jsonify(counters.snapshot())

    def bench_approval_commits():
        """The bench's own door: {payment request id: perf_counter of its approval's commit}, then forgotten."""
        return jsonify(clock.take())

    app.add_url_rule(COUNTERS_PATH, "bench_counters", bench_counters)
    app.add_url_rule(APPROVAL_COMMITS_PATH, "bench_approval_commits", bench_approval_commits)
    return counters

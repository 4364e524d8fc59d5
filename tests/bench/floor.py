"""The floor: the least an app on PayLab's stack can do for one approval, to measure PayLab against.

Flask + Flask-SocketIO in threading mode on the same Werkzeug threading server `make run`
uses (socketio.run), SQLite in WAL mode with `synchronous=NORMAL` and one long-lived
connection: `POST /approve/<room>` inserts a row, commits, and emits `order_status` to that
room. A socket joins the room it names in its auth (the floor has no sessions: the room is the
whole of its "who are you"). Whatever PayLab takes beyond this, it takes for its own work.

Run it: `python -m tests.bench.floor PORT DATABASE_PATH`.
"""
import sqlite3
import sys
import threading
import time

from flask import Flask, jsonify
from flask_socketio import SocketIO, join_room

NAMESPACE = "/shop"


def create_floor_app(database_path):
    """The floor app: one write-and-emit endpoint, a 200 at / to know it is up, and its own counters."""
    app = Flask(__name__)
    socketio = SocketIO(app, async_mode="threading", cors_allowed_origins="*")
    connection = sqlite3.connect(database_path, check_same_thread=False, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("CREATE TABLE IF NOT EXISTS approvals (id INTEGER PRIMARY KEY, room TEXT NOT NULL, "
                       "approved_at REAL NOT NULL)")
    lock = threading.Lock()  # one connection, as PayLab's SQLite design has: writes take turns
    counts = {"statements": 0, "commits": 0}

    @app.get("/")
    def index():
        return "floor"

    @app.post("/approve/<room>")
    def approve(room):
        """The whole hop: insert, commit, emit to the room's sockets."""
        with lock:
            connection.execute("BEGIN")
            cursor = connection.execute("INSERT INTO approvals (room, approved_at) VALUES (?, ?)", (room, time.time()))
            committed = time.perf_counter()  # the commit's clock, read as PayLab's is (tests/bench/counters.py)
            connection.execute("COMMIT")
            counts["statements"] += 1
            counts["commits"] += 1
        socketio.emit("order_status", {"order_id": cursor.lastrowid, "room": room, "status": "paid"},
                      to=room, namespace=NAMESPACE)
        return jsonify(id=cursor.lastrowid, status="approved", committed=committed)

    @app.get("/_bench/counters")
    def bench_counters():
        with lock:
            return jsonify(dict(counts))

    @socketio.on("connect", namespace=NAMESPACE)
    def connect(auth=None):
        """A laptop's page connects and joins the room it names."""
        room = (auth or {}).get("room") if isinstance(auth, dict) else None
        if not room:
            return False
        join_room(room)
        return None

    return app, socketio


def main(port, database_path):
    app, socketio = create_floor_app(database_path)
    socketio.run(app, host="127.0.0.1", port=port, allow_unsafe_werkzeug=True, use_reloader=False)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])

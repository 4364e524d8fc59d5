"""The process bus without Redis, and with its Redis away: a message is never lost to this process,
and publishing never raises (it runs after a commit, which it must not turn into an error)."""
from flask import Flask

from app.common.process_bus import ProcessBus


def _bus(**config):
    app = Flask(__name__)
    app.config.update(config)
    heard = []
    bus = ProcessBus(app)
    bus.on("close-sockets", heard.append)
    return bus, heard


def test_without_a_queue_the_one_process_handles_its_own_message():
    bus, heard = _bus()
    bus.publish("close-sockets", "sign-in:abc")
    bus.publish("nobody-listens", "x")
    assert heard == ["sign-in:abc"]
    bus.start()
    assert not bus.listening  # nothing to listen to


def test_with_redis_away_this_process_still_acts_and_nothing_raises(caplog):
    bus, heard = _bus(SOCKETIO_MESSAGE_QUEUE="redis://127.0.0.1:1/0")
    bus.publish("close-sockets", "sign-in:abc")
    assert heard == ["sign-in:abc"]
    assert "handled in this one only" in caplog.text


def test_a_handler_that_fails_is_logged_not_raised(caplog):
    bus, _ = _bus()
    bus.on("boom", lambda payload: 1 / 0)
    bus.publish("boom", None)
    bus._receive(b"not json")
    assert "handling boom failed" in caplog.text and "ignored a message" in caplog.text


def test_a_message_that_is_not_a_topic_and_payload_is_ignored_and_the_listener_survives(caplog):
    bus, heard = _bus()
    for data in (b'[[1], 0]', b'[{"a": 1}, 0]', b'[null, 0]', b'"x"', b"[1, 2, 3]"):
        bus._receive(data)  # an unhashable topic once killed the listening thread
    bus._receive(b'["close-sockets", "sign-in:ok"]')
    assert heard == ["sign-in:ok"]

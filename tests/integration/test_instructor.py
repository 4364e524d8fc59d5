"""The instructor's view: off unless INSTRUCTOR_PASSWORD is set, then only with it (and guessing it is
limited); a class's progress counted from what really happened (a full loop, the walkthrough opened),
a stuck learner's phone as the bank sees it, and the deployment's processes and outboxes."""
import os

import pytest
import requests
import socketio

from ..support import BankCustomer, LiveServer, Shopper, new_identity, wait_for
from ..conftest import new_customer

PASSWORD = "class-of-2026-instructor"
AS_INSTRUCTOR = ("instructor", PASSWORD)
DOORS = ("/instructor/", "/instructor/api/overview", "/instructor/api/learner?username=thandi",
         "/bank/instructor/api/class", "/bank/instructor/api/customers?username=thandi")


@pytest.fixture(scope="module")
def classroom(tmp_path_factory, push_service):
    server = LiveServer(tmp_path_factory.mktemp("instructor") / "instance", INSTRUCTOR_PASSWORD=PASSWORD,
                        RATELIMIT_INSTRUCTOR="100 per minute").start()  # the guess limit has a test of its own
    yield server
    server.stop()


@pytest.mark.parametrize("path", DOORS)
def test_without_a_password_set_the_view_does_not_exist(live, path):
    response = requests.get(live.url + path, auth=("instructor", ""), timeout=10)
    assert response.status_code == 404
    if "/api/" in path:
        assert response.json()["error"] == "not_found"


@pytest.mark.parametrize("path", DOORS)
def test_every_door_asks_for_the_instructors_password(classroom, path):
    bare = requests.get(classroom.url + path, timeout=10)
    assert bare.status_code == 401 and bare.headers["WWW-Authenticate"].startswith('Basic realm="PayLab instructor"')
    learner = Shopper.signed_in(classroom)  # a learner's own sign-in opens nothing here
    assert learner.get(path).status_code == 401
    assert requests.get(classroom.url + path, auth=("admin", PASSWORD), timeout=10).status_code == 401
    assert requests.get(classroom.url + path, auth=AS_INSTRUCTOR, timeout=10).status_code == 200


def test_guessing_the_password_is_limited_but_opening_the_page_is_not(tmp_path):
    server = LiveServer(tmp_path / "instance", INSTRUCTOR_PASSWORD=PASSWORD, RATELIMIT_INSTRUCTOR="4 per minute",
                        BACKGROUND_WORKERS=False).start()
    try:
        # A browser's first request carries no password (it gets the challenge): that is no guess.
        assert [requests.get(server.url + "/instructor/", timeout=10).status_code for _ in range(5)] == [401] * 5
        # One allowance for every door and method: HEAD runs the same check, the bank's door is a door too.
        guesses = [requests.request(method, server.url + path, auth=("instructor", f"guess-{n}"), timeout=10)
                   .status_code for n, (method, path) in enumerate([
                       ("GET", "/instructor/"), ("HEAD", "/instructor/api/overview"),
                       ("GET", "/bank/instructor/api/class"), ("HEAD", "/instructor/"), ("GET", "/instructor/api/learner")])]
        assert guesses == [401, 401, 401, 401, 429]
        assert requests.get(server.url + "/bank/instructor/api/class", auth=AS_INSTRUCTOR,
                            timeout=10).status_code == 429  # the address waits it out, at every door
    finally:
        server.stop()


def test_a_password_beyond_ascii_works_at_every_door(tmp_path):
    """Browsers send it as UTF-8 (the challenge says so); the walkthrough's call to the bank must too."""
    password = "Pässwörd-€-ñ"
    server = LiveServer(tmp_path / "instance", INSTRUCTOR_PASSWORD=password, BACKGROUND_WORKERS=False).start()
    try:
        auth = ("instructor".encode(), password.encode("utf-8"))
        overview = requests.get(server.url + "/instructor/api/overview", auth=auth, timeout=10)
        assert overview.status_code == 200 and overview.json()["bank"] is not None, overview.text
        learner = requests.get(server.url + "/instructor/api/learner", params={"username": "thandi"}, auth=auth,
                               timeout=10)
        assert learner.status_code == 200 and learner.json()["username"] == "thandi"
    finally:
        server.stop()


def test_the_class_progress_counts_what_learners_really_did(classroom, push_service):
    def overview():
        response = requests.get(classroom.url + "/instructor/api/overview", auth=AS_INSTRUCTOR, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    before = overview()
    username, password, pin, card = new_customer(classroom.app)
    laptop = Shopper(classroom.url)
    laptop.sign_in(*new_identity(classroom.app))
    walkthrough = socketio.Client(reconnection=False)
    walkthrough.connect(classroom.url, namespaces=["/walkthrough"], transports=["polling"], wait_timeout=5,
                        headers={"Cookie": f"shop_session={laptop.http.cookies.get('shop_session')}"})
    walkthrough.disconnect()
    phone = BankCustomer(classroom.url, username, password, pin)
    phone.register_device(subscription=push_service.subscribe())
    laptop.fill_cart("headlamp")
    order_id, _ = laptop.checkout(card)
    request_id = wait_for(phone.pending, message="the payment request")[0]["id"]
    wait_for(lambda: any(m["payload"].get("id") == request_id for m in push_service.messages), message="the push")
    assert phone.http.post(classroom.url + "/bank/app/api/push/receipt", json={"id": request_id},
                           timeout=10).status_code == 204  # what the service worker says when it shows it
    assert phone.decide(request_id, "approve", pin=pin).status_code == 200
    wait_for(lambda: laptop.order_status(order_id)["status"] == "paid", message="the order paid")

    def grew(after):
        progress, bank = after["class_progress"], after["bank"]
        old, old_bank = before["class_progress"], before["bank"]
        return all(progress[key] == old[key] + 1 for key in (
            "signed_in", "opened_walkthrough", "paid", "push_reached_phone", "approved_with_pin", "order_paid")) \
            and progress["approved_with_passkey"] == old["approved_with_passkey"] \
            and all(bank[key] == old_bank[key] + 1 for key in ("registered_a_phone", "notifications_on",
                                                               "push_delivered"))
    after = wait_for(lambda: (lambda data: data if grew(data) else None)(overview()), timeout=15,
                     message="each step counted once more")
    assert after["bank"]["payments"]["approved"] == before["bank"]["payments"]["approved"] + 1
    assert after["bank"]["outbox"]["webhooks_waiting"] == 0
    processes = after["deployment"]["processes"]
    assert after["deployment"]["queue"]["configured"] is False and len(processes) == 1  # make run: one process
    assert processes[0]["role"] == "web" and processes[0]["pid"] == os.getpid()  # the live server runs in here

    diagnostics = requests.get(classroom.url + "/instructor/api/learner", params={"username": username},
                               auth=AS_INSTRUCTOR, timeout=10).json()
    device = diagnostics["devices"][0]
    assert diagnostics["username"] == username and diagnostics["pending_payments"] == 0
    assert device["notifications"] and device["push_service"] == push_service.origin.split("//")[1]
    assert device["last_push"]["accepted"] and device["last_receipt_at"]
    assert "endpoint" not in device  # the push endpoint is a capability: its host only


@pytest.mark.parametrize("username, status", [("nobody-here", 404), ("", 422), ("a" * 81, 422), ("x\x00y", 422)])
def test_looking_up_a_learner_that_is_not_there_says_so(classroom, username, status):
    response = requests.get(classroom.url + "/instructor/api/learner", params={"username": username},
                            auth=AS_INSTRUCTOR, timeout=10)
    assert response.status_code == status and response.json()["message"]
    direct = requests.get(classroom.url + "/bank/instructor/api/customers", params={"username": username},
                          auth=AS_INSTRUCTOR, timeout=10)
    assert direct.status_code == status

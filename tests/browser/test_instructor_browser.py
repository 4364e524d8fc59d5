"""The instructor's view in a real browser, on a laptop and on a phone: the class's progress after a
learner's whole loop, a stuck learner's phone looked up, the deployment's health; no sideways
scrolling and no serious axe-core finding at 360, 412 and 1366 px; and without the password, a page
that says what is needed."""
import pytest
from playwright.sync_api import expect

from ..conftest import new_customer
from ..support import BankCustomer, LiveServer, Shopper, new_identity, wait_for
from .audit import PageAudit

PASSWORD = "browser-instructor-password"


@pytest.fixture(scope="module")
def taught(tmp_path_factory, push_service):
    """A PayLab with the instructor's view on, and one learner who has been all the way round."""
    server = LiveServer(tmp_path_factory.mktemp("instructor-browser") / "instance", INSTRUCTOR_PASSWORD=PASSWORD).start()
    username, password, pin, card = new_customer(server.app)
    laptop = Shopper(server.url)
    laptop.sign_in(*new_identity(server.app))
    phone = BankCustomer(server.url, username, password, pin)
    phone.register_device(subscription=push_service.subscribe())
    laptop.fill_cart("headlamp")
    order_id, _ = laptop.checkout(card)
    request_id = wait_for(phone.pending, message="the payment request")[0]["id"]
    phone.decide(request_id, "approve", pin=pin)
    wait_for(lambda: laptop.order_status(order_id)["status"] == "paid", message="the order paid")
    server.learner = username
    yield server
    server.stop()


@pytest.fixture(params=["laptop", "phone"])
def instructor(request, browser, playwright_instance):
    size = {"viewport": {"width": 1366, "height": 900}} if request.param == "laptop" else \
        dict(playwright_instance.devices["Pixel 7"])
    context = browser.new_context(**size, locale="en-ZA", http_credentials={"username": "instructor",
                                                                            "password": PASSWORD})
    context.set_default_timeout(15000)
    page = context.new_page()
    page.form_factor = request.param
    yield page
    context.close()


def test_the_instructor_sees_the_class_a_learners_phone_and_the_deployment(taught, instructor, artifacts,
                                                                          screenshots):
    audit = PageAudit(artifacts / "page-audit.json")
    instructor.goto(f"{taught.url}/instructor/")
    expect(instructor.get_by_role("heading", name="Your class", level=1)).to_be_visible()
    expect(instructor.locator('[data-key="order_paid"] .count')).to_have_text("1")
    expect(instructor.locator('[data-key="approved_with_pin"] .count')).to_have_text("1")
    expect(instructor.locator('[data-key="registered_a_phone"] .count')).not_to_have_text("–")
    expect(instructor.locator("[data-refreshed]")).to_contain_text("Updated")
    expect(instructor.locator("[data-processes] tr")).to_have_count(1)
    expect(instructor.locator("[data-health]")).to_contain_text("none: one process")

    instructor.get_by_label("Their bank app user name").fill(taught.learner)
    instructor.get_by_role("button", name="Show their phone").click()
    learner = instructor.locator("[data-learner]")
    expect(learner).to_contain_text(f"{taught.learner}: 1 device(s)")
    expect(learner).to_contain_text("accepted (HTTP 201)")
    audit(instructor, f"instructor's view with a learner looked up ({instructor.form_factor})")
    if instructor.form_factor == "laptop":
        instructor.screenshot(path=screenshots / "instructor.png", full_page=True)

    instructor.get_by_label("Their bank app user name").fill("nobody-of-this-name")
    instructor.get_by_role("button", name="Show their phone").click()
    expect(learner).to_contain_text("No bank customer called 'nobody-of-this-name'")
    audit.assert_clean()


def test_without_the_password_the_page_says_what_it_needs(taught, laptop):
    """What a browser shows when the instructor cancels its password prompt (headless Chromium cannot
    prompt, so the page is fetched as the browser would, then shown)."""
    response = laptop.request.get(f"{taught.url}/instructor/")
    assert response.status == 401 and response.headers["www-authenticate"].startswith("Basic")
    laptop.goto(f"{taught.url}/walkthrough/")  # same origin, so the page's own stylesheet loads
    laptop.set_content(response.text())
    expect(laptop.get_by_role("heading", level=1)).to_be_visible()
    expect(laptop.locator("main")).to_contain_text("instructor's user name and password")

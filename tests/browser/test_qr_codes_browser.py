"""Every QR code PayLab shows must scan: the test screenshots it as the browser draws it, at laptop and
phone sizes, and decodes the picture with ZXing (zxing-cpp, pinned in tests/requirements.txt).

The only expected value is the URL the page itself says the code opens: the shop's "Baobab Bank" link
(the app's BANK_APP_URL) and the address printed under the code on the bank app's Devices screen."""
import io

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from ..conftest import new_customer
from .conftest import TIMEOUT_MS
from .test_payment_loop_browser import add_to_cart_and_check_out, log_in_to_bank

PIXEL_7_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/120.0.0.0 Mobile Safari/537.36")
# A laptop, a big phone (Playwright's Pixel 7: 412x915 at 2.625 device pixels per CSS px) and a small one.
SCREENS = {
    "laptop-1366x768": lambda devices: {"viewport": {"width": 1366, "height": 768}},
    "phone-412x915": lambda devices: dict(devices["Pixel 7"]),
    "phone-360x800": lambda devices: {"viewport": {"width": 360, "height": 800}, "device_scale_factor": 3,
                                      "is_mobile": True, "has_touch": True, "user_agent": PIXEL_7_UA},
}
# Big enough to scan from a laptop screen with a phone held at arm's length.
MIN_LAPTOP_QR_CSS_PX = 160


def decode_qr(png):
    """The texts of the QR codes ZXing finds in a PNG screenshot."""
    image = Image.open(io.BytesIO(png))
    return [result.text for result in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


def signed_in_state(browser, sign_in):
    """Cookies of a laptop context after `sign_in(page)`: each screen size reuses them, so every size
    sees the same page a learner would."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-ZA")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        sign_in(page)
        return page.url, context.storage_state()
    finally:
        context.close()


@pytest.fixture(scope="module")
def bank_customer(live):
    return new_customer(live.app)


@pytest.fixture(scope="module")
def waiting_order(live, browser, bank_customer):
    """A real checkout, left waiting for approval (the only time the shop shows its QR code)."""
    return signed_in_state(browser, lambda page: add_to_cart_and_check_out(page, live, bank_customer[3]))


@pytest.fixture(scope="module")
def bank_devices(live, browser, bank_customer):
    """The bank app's Devices screen, logged in."""
    username, password = bank_customer[:2]

    def sign_in(page):
        log_in_to_bank(page, live, username, password)
        page.goto(f"{live.url}/bank/app/devices")
    return signed_in_state(browser, sign_in)


def open_at_screen_size(browser, playwright_instance, screen, storage_state, url):
    context = browser.new_context(**SCREENS[screen](playwright_instance.devices), locale="en-ZA",
                                  storage_state=storage_state)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(url)
    return context, page


def assert_qr_scans(page, figure, expected_url, screen, screenshot_path):
    """Screenshot the figure as rendered, decode it, and check the size and that it fits the screen."""
    expect(figure).to_be_visible()
    figure.scroll_into_view_if_needed()
    # The page's screenshot clipped to the figure's box, as the screen shows it. (Not figure.screenshot():
    # in a mobile context whose page is wider than the screen, Chromium's visual viewport is offset from
    # the layout viewport and Playwright's element screenshot then clips the wrong part of the page.)
    png = page.screenshot(clip=figure.bounding_box(), path=screenshot_path, animations="disabled")
    decoded = decode_qr(png)
    assert decoded == [expected_url], f"{screen}: decoded {decoded!r} from {screenshot_path.name}"

    box = figure.locator("svg").bounding_box()
    viewport_width = page.viewport_size["width"]
    assert abs(box["width"] - box["height"]) < 1, f"{screen}: the QR code is not square: {box}"
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport_width, \
        f"{screen}: the QR code {box} does not fit the {viewport_width} px wide screen"
    if screen.startswith("laptop"):
        assert box["width"] >= MIN_LAPTOP_QR_CSS_PX, f"{screen}: the QR code is only {box['width']} px wide"


@pytest.mark.parametrize("screen", list(SCREENS))
def test_shop_order_page_qr_scans_to_the_bank_app(live, browser, playwright_instance, waiting_order, screen,
                                                  artifacts):
    url, state = waiting_order
    context, page = open_at_screen_size(browser, playwright_instance, screen, state, url)
    try:
        expect(page.get_by_test_id("status-message")).to_have_text("Approve the payment in your banking app.")
        expected = page.locator(".open-bank").get_by_role("link", name="Baobab Bank").get_attribute("href")
        assert expected == live.app.config["BANK_APP_URL"]
        assert_qr_scans(page, page.get_by_test_id("bank-app-qr"), expected, screen,
                        artifacts / f"qr-shop-order-{screen}.png")
    finally:
        context.close()


@pytest.mark.parametrize("screen", list(SCREENS))
def test_bank_app_devices_qr_scans_to_the_bank_app(live, browser, playwright_instance, bank_devices, screen,
                                                   artifacts):
    url, state = bank_devices
    context, page = open_at_screen_size(browser, playwright_instance, screen, state, url)
    try:
        expect(page.get_by_test_id("devices-screen")).to_be_visible()
        figure = page.get_by_test_id("app-qr")
        expected = figure.locator("figcaption").inner_text().strip()
        assert expected == live.app.config["BANK_APP_URL"]
        assert_qr_scans(page, figure, expected, screen, artifacts / f"qr-bank-devices-{screen}.png")
    finally:
        context.close()

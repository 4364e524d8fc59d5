"""Render the app icons (PNG) from icon.svg and maskable.svg with the test suite's Chromium.

Run after changing an SVG:  .venv/bin/python pwa/icons/render_icons.py
"""
import shutil
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
TARGETS = [("icon.svg", "icon-192.png", 192), ("icon.svg", "icon-512.png", 512),
           ("maskable.svg", "maskable-512.png", 512), ("maskable.svg", "apple-touch-icon.png", 180)]


def main():
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        for source, target, size in TARGETS:
            page = browser.new_page(viewport={"width": size, "height": size})
            svg = (HERE / source).read_text()
            page.set_content(f'<html><body style="margin:0;background:transparent">'
                             f'<div style="width:{size}px;height:{size}px">{svg.replace("<svg ", f"<svg width={size} height={size} ", 1)}</div>'
                             f'</body></html>')
            page.screenshot(path=str(HERE / target), omit_background=True)
            page.close()
            print("wrote", target)
        browser.close()


if __name__ == "__main__":
    main()

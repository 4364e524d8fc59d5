"""Does a page fit a phone, and can everyone use it? Checked the same way on every page the tours visit.

Two checks, at 360 px and 412 px (phones) and 1366 px (a laptop):
- the page does not scroll sideways: `document.documentElement.scrollWidth <= innerWidth`. Wide content
  (the walkthrough's diagram, a table) must scroll inside its own focusable container or reflow;
- axe-core (installed from npm by `make test-setup`, injected here, nothing fetched at run time) finds no
  `serious` or `critical` violation, nor a page without an `<h1>` (axe calls that one moderate);
- the first thing a keyboard reaches is a skip link to the page's main content;
- the page names an icon that loads (a missing favicon is a 404 in the console on every page).

Every result goes into a JSON report next to the screenshots, so the counts per page can be compared
between two versions of the code.
"""
import json
from pathlib import Path

from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parent.parent.parent
AXE_SOURCE = (ROOT / "node_modules" / "axe-core" / "axe.min.js").read_text(encoding="utf-8")
WIDTHS = ((360, 780), (412, 915), (1366, 768))
FAILING_IMPACTS = ("serious", "critical")
ALSO_FAILING = ("page-has-heading-one",)

_SKIP_LINK = """() => {
    const first = [...document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]')]
        .find(el => el.tabIndex >= 0 && !el.disabled && el.type !== 'hidden');
    if (!first || first.tagName !== 'A' || !first.getAttribute('href').startsWith('#')) {
        return 'the first focusable element is ' + (first ? first.outerHTML.slice(0, 80) : 'missing');
    }
    const target = document.getElementById(first.getAttribute('href').slice(1));
    if (!target) return 'the skip link leads nowhere: ' + first.getAttribute('href');
    if (!target.matches('main, [role=main]')) return 'the skip link does not lead to <main>';
    return '';
}"""

_RUN_AXE = """async () => {
    const result = await axe.run(document, {resultTypes: ['violations']});
    return result.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ' :: ' + (n.failureSummary || '').split('\\n').slice(1, 2).join('')),
        count: v.nodes.length,
    }));
}"""

# Two animation frames: the layout (and any ResizeObserver) has settled after the resize.
_SETTLE = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"

_WIDEST = """() => {
    const limit = window.innerWidth;
    const sticking = [];
    for (const el of document.body.querySelectorAll('*')) {
        const box = el.getBoundingClientRect();
        if (box.right > limit + 0.5 && getComputedStyle(el).position !== 'fixed') {
            sticking.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : ''} right=${Math.round(box.right)}`);
        }
    }
    return sticking.slice(0, 6);
}"""

_ICON = """async () => {
    const link = document.querySelector('link[rel~="icon"]');
    if (!link) return 'no <link rel="icon">';
    const answer = await fetch(link.href);
    return answer.ok ? '' : `${link.getAttribute('href')} answers ${answer.status}`;
}"""


def _file_name(name):
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


class PageAudit:
    """Call it with a page and a name for the page's state; `assert_clean()` at the end of the test."""

    def __init__(self, report_path):
        self.report_path = Path(report_path)
        (self.report_path.parent / "phone-360").mkdir(parents=True, exist_ok=True)
        self.problems = []

    def __call__(self, page, name):
        original = page.viewport_size
        entries = {}
        try:
            for width, height in WIDTHS:
                page.set_viewport_size({"width": width, "height": height})
                page.evaluate(_SETTLE)
                entries[str(width)] = self._check(page, name, width)
                if width < 400:  # a picture of each page on the narrowest phone, to look at (not committed)
                    page.screenshot(path=self.report_path.parent / "phone-360" / f"{_file_name(name)}.png", full_page=True)
        finally:
            page.set_viewport_size(original)
            page.evaluate(_SETTLE)
        skip_link = page.evaluate(_SKIP_LINK)
        if skip_link:
            self.problems.append(f"{name}: no skip link: {skip_link}")
        icon = page.evaluate(_ICON)
        if icon:
            self.problems.append(f"{name}: icon: {icon}")
        self._record(name, page.url, dict(entries, skip_link=not skip_link, icon=not icon))

    def focused(self, locator, what):
        """After a form came back with errors, the keyboard must be on `locator` (recorded, not raised, so
        one run shows every problem)."""
        try:
            expect(locator).to_be_focused(timeout=3000)
        except AssertionError:
            focused = locator.page.evaluate("() => document.activeElement && document.activeElement.outerHTML.slice(0, 90)")
            self.problems.append(f"{what}: focus is not on the first thing to fix but on {focused}")

    def _check(self, page, name, width):
        scroll_width, inner_width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        if scroll_width > inner_width:
            self.problems.append(f"{name} at {width} px: the page is {scroll_width} px wide in {inner_width} px; "
                                 f"sticking out: {page.evaluate(_WIDEST)}")
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(AXE_SOURCE)  # through the debugging protocol: the page's CSP does not apply
        violations = page.evaluate(_RUN_AXE)
        failing = [v for v in violations if v["impact"] in FAILING_IMPACTS or v["id"] in ALSO_FAILING]
        for violation in failing:
            self.problems.append(f"{name} at {width} px: axe {violation['impact']} {violation['id']} "
                                 f"({violation['help']}) on {violation['count']}: {violation['nodes']}")
        return {"scroll_width": scroll_width, "inner_width": inner_width,
                "serious_or_critical": sum(v["count"] for v in failing),
                "rules": sorted({v["id"] for v in failing}),
                "other": sum(v["count"] for v in violations if v not in failing)}

    def _record(self, name, url, entries):
        report = json.loads(self.report_path.read_text()) if self.report_path.exists() else {}
        report[name] = {"url": url, "widths": entries}
        self.report_path.write_text(json.dumps(report, indent=1, sort_keys=True))

    def assert_clean(self):
        assert not self.problems, "\n".join(self.problems)

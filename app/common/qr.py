"""QR codes, drawn by the server with segno: point a phone's camera at the laptop to open the bank app."""
import segno

# The quiet zone the QR standard asks for: 4 light modules around the code, drawn inside the SVG so
# it is there whatever the page's background is.
QUIET_ZONE_MODULES = 4


def qr_svg(url):
    """An inline <svg> for `url` (no script, no external file).

    It has a viewBox and no width or height (segno's `omitsize`), so it scales as a whole to whatever
    size the page's CSS gives it (`.qr svg` in the shop's and the bank app's CSS) instead of being
    cropped to that size."""
    return segno.make(url, error="m").svg_inline(dark="#0f3d2e", light="#ffffff", border=QUIET_ZONE_MODULES,
                                                 omitsize=True)

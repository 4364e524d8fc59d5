"""QR codes, drawn by the server with segno: point a phone's camera at the laptop to open the bank app."""
import segno


def qr_svg(url, scale=5):
    """An inline <svg> for `url` (no script, no external file)."""
    return segno.make(url, error="m").svg_inline(scale=scale, dark="#0f3d2e", light="#ffffff", border=2)

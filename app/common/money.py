"""Money is always an integer number of cents; this is where it becomes text."""
from decimal import Decimal, InvalidOperation


class InvalidAmount(ValueError):
    pass


def format_money(cents, currency="ZAR"):
    """12345 -> 'R 123.45'; 123456789 -> 'R 1 234 567.89' (South African spacing)."""
    sign = "-" if cents < 0 else ""
    rands, rest = divmod(abs(int(cents)), 100)
    grouped = f"{rands:,}".replace(",", " ")
    symbol = "R" if currency == "ZAR" else currency
    return f"{sign}{symbol} {grouped}.{rest:02d}"


def parse_money(text):
    """'5000.00' or '5000' -> 500000 cents; at most two decimals, never negative."""
    try:
        value = Decimal(str(text).strip().replace(" ", ""))
    except InvalidOperation:
        raise InvalidAmount(f"{text!r} is not an amount") from None
    if not value.is_finite() or value < 0 or value > Decimal("1e12") or value != value.quantize(Decimal("0.01")):
        raise InvalidAmount(f"{text!r} must be a positive amount with at most two decimals")
    return int(value * 100)

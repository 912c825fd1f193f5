"""How the platform writes numbers, sizes, durations and times: one rule per kind of value.

The browser has the same rules in `static/js/format.js` (the live pages draw with it);
`tests/core/test_formatting.py` runs both on the same values and requires the same text.
Pages use these through the template filters in `core/templatetags/fmt.py`; the CLI
(`manage.py run_study`) calls them directly.

- percent: 0.9562 -> "95.6%" (accuracies, fractions; always 0-100 %, one decimal)
- number: 3 significant digits; "0.0021", "3.14", "1,235" from 1000 on, and "7.78e-4" / "2e28" below 0.001
  and from a million on
- count: "2,400"
- size: SI units, one decimal: "12.3 MB" (1 MB = 1,000,000 bytes)
- duration: "45 s", "5 min 02 s", "1 h 05 min" (under 10 s: "3.2 s")
- milliseconds: number + " ms"
- yes/no for booleans; times are ISO in a <time> element that the browser writes in the user's locale
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import ROUND_HALF_UP, Context, Decimal

MISSING = "—"
_EXACT = Context(prec=400)  # enough digits for any double written out in full
SIZE_UNITS = ("B", "kB", "MB", "GB", "TB")


def _finite(value) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _fixed(value: float, decimals: int) -> str:
    """`value` with `decimals` digits after the point, halves rounded away from zero (as JavaScript's toFixed)."""
    quantum = Decimal(1).scaleb(-decimals)
    return f"{Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP, context=_EXACT):f}"


def _strip(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def count(value) -> str:
    number = _finite(value)
    if number is None:
        return MISSING
    return f"{int(Decimal(number).quantize(Decimal(1), rounding=ROUND_HALF_UP, context=_EXACT)):,}"


def number(value, significant: int = 3) -> str:
    """A float in `significant` digits (see the module's rules)."""
    x = _finite(value)
    if x is None:
        return MISSING
    if x == 0:
        return "0"
    magnitude = abs(x)
    exponent = math.floor(math.log10(magnitude))
    if 1000 <= magnitude < 1e6:
        return count(x)
    if 1e-3 <= magnitude < 1000:
        text = _strip(_fixed(x, max(0, significant - 1 - exponent)))
        return "0" if text in ("-0", "") else text
    mantissa = Decimal(x).scaleb(-exponent)
    rounded = mantissa.quantize(Decimal(1).scaleb(1 - significant), rounding=ROUND_HALF_UP)
    if abs(rounded) >= 10:
        exponent += 1
        rounded = Decimal(x).scaleb(-exponent).quantize(Decimal(1).scaleb(1 - significant), rounding=ROUND_HALF_UP)
    return f"{_strip(f'{rounded:f}')}e{exponent}"


def percent(value, decimals: int = 1) -> str:
    x = _finite(value)
    if x is None:
        return MISSING
    return _fixed(x * 100, decimals) + "%"


def size(value) -> str:
    x = _finite(value)
    if x is None:
        return MISSING
    unit = 0
    while abs(x) >= 1000 and unit < len(SIZE_UNITS) - 1:
        x /= 1000
        unit += 1
    return f"{int(x)} B" if unit == 0 else f"{_fixed(x, 1)} {SIZE_UNITS[unit]}"


def duration(value) -> str:
    x = _finite(value)
    if x is None:
        return MISSING
    x = max(0.0, x)
    if x < 10:
        return _fixed(x, 1) + " s"
    seconds = int(Decimal(x).quantize(Decimal(1), rounding=ROUND_HALF_UP, context=_EXACT))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {(seconds % 3600) // 60:02d} min"


def milliseconds(value) -> str:
    text = number(value)
    return text if text == MISSING else f"{text} ms"


def yes_no(value) -> str:
    return MISSING if value is None else ("yes" if value else "no")


def value(item) -> str:
    """A parameter's value of any type: booleans as yes/no, floats in significant digits, lists joined."""
    if isinstance(item, bool) or item is None:
        return yes_no(item)
    if isinstance(item, int | float):
        return number(item)  # as the browser, which cannot tell 64 from 64.0
    if isinstance(item, list | tuple):
        return ", ".join(value(v) for v in item)
    return str(item)


def label(name: str) -> str:
    """A parameter's name in words: "learning_rate" -> "learning rate" (charts, tables and lists alike)."""
    return str(name).replace("_", " ")


def iso_time(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def utc_time(moment: datetime | None) -> str:
    """The fallback text of a <time> element before the browser writes it in the user's locale."""
    if moment is None:
        return MISSING
    return (
        moment.strftime("%-d %b %Y, %H:%M UTC")
        if moment.utcoffset() is not None
        else moment.strftime("%-d %b %Y, %H:%M")
    )

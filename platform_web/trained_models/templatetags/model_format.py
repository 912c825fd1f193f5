"""Number formats of the model pages (no dependency on django.contrib.humanize)."""

from django import template

register = template.Library()


@register.filter
def thousands(value) -> str:
    """1234567 -> "1,234,567"; None -> "—"."""
    if value is None or value == "":
        return "—"
    return f"{int(value):,}"


@register.filter
def percent(value, digits: int = 1) -> str:
    """0.9345 -> "93.5%"; None -> "—"."""
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.filter
def decimals(values, digits: int = 4) -> str:
    """[0.485123, 0.456] -> "0.4851, 0.4560" (a list of floats, rounded for reading)."""
    try:
        return ", ".join(f"{float(v):.{int(digits)}f}" for v in values)
    except (TypeError, ValueError):
        return str(values)

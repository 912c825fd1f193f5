"""Template filters over `platform_web.core.formatting`: `{% load fmt %}` then `{{ x|percent }}`, `{{ t|localtime_tag }}`."""

from django import template
from django.utils.html import format_html

from platform_web.core import formatting

register = template.Library()

register.filter("percent", formatting.percent)
register.filter("number", formatting.number)
register.filter("count", formatting.count)
register.filter("size", formatting.size)
register.filter("duration", formatting.duration)
register.filter("ms", formatting.milliseconds)
register.filter("yes_no", formatting.yes_no)
register.filter("value", formatting.value)
register.filter("param_label", formatting.label)


@register.filter
def numbers(values) -> str:
    """A list of floats, each in significant digits: "0.485, 0.456, 0.406"."""
    try:
        return ", ".join(formatting.number(v) for v in values)
    except TypeError:
        return str(values)


@register.filter
def when(moment):
    """A <time> the browser writes in the user's locale (static/js/format.js); UTC until then."""
    if moment is None:
        return formatting.MISSING
    return format_html(
        '<time data-local datetime="{}">{}</time>', formatting.iso_time(moment), formatting.utc_time(moment)
    )

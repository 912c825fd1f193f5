"""Does a page fit its viewport? The layout check of the every-page browser test, run in the page.

A page fits when the document is no wider than the viewport and every visible
element stays inside its card (or, outside cards, inside the viewport) unless an
ancestor inside that card clips or scrolls it (a table that scrolls inside its
card is fine; a table that pushes the card wider is not). Text that runs out of
its box (a long unbroken name in a cell that cannot wrap) counts too.
"""

from __future__ import annotations

OVERFLOWS_JS = """
() => {
  const viewport = document.documentElement.clientWidth;
  const problems = [];
  const describe = (el) => {
    let name = el.tagName.toLowerCase();
    if (el.id) name += "#" + el.id;
    const classes = Array.from(el.classList).slice(0, 3).join(".");
    if (classes) name += "." + classes;
    const text = (el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 50);
    return text ? `${name} ("${text}")` : name;
  };
  const clips = (el) => getComputedStyle(el).overflowX !== "visible"; // hidden, clip, auto or scroll
  if (document.documentElement.scrollWidth > viewport + 1) {
    problems.push(`the document is ${document.documentElement.scrollWidth} px wide in a ${viewport} px viewport`);
  }
  const outside = new Map(), spilling = new Map();
  for (const el of document.body.querySelectorAll("*")) {
    const style = getComputedStyle(el);
    if (style.display === "none" || style.visibility === "hidden" || style.position === "fixed") continue;
    if (el.closest("script, style, template, noscript, option, datalist")) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    // the nearest card, and whether something between the element and that card clips or scrolls it
    let container = null, clipped = false;
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      if (up.classList.contains("card")) { container = up; break; }
      if (clips(up)) { clipped = true; break; }
    }
    if (clipped) continue;
    const bounds = container ? container.getBoundingClientRect() : { left: 0, right: viewport };
    const where = container ? `its card ${describe(container).slice(0, 40)}` : "the viewport";
    if (box.right > bounds.right + 1 || box.left < bounds.left - 1) {
      outside.set(el, `${describe(el)} spans ${Math.round(box.left)}-${Math.round(box.right)} px, outside ${where} (${Math.round(bounds.left)}-${Math.round(bounds.right)})`);
    } else if (style.display !== "inline" && !clips(el) && el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) {
      spilling.set(el, `the content of ${describe(el)} is ${el.scrollWidth} px wide in a ${el.clientWidth} px box`);
    }
  }
  // Name where each problem starts: the outermost element that sticks out, the innermost box that spills.
  const offenders = [...outside.keys(), ...spilling.keys()];
  for (const [el, message] of outside) {
    if (![...outside.keys()].some((other) => other !== el && other.contains(el))) problems.push(message);
  }
  for (const [el, message] of spilling) {
    if (!offenders.some((other) => other !== el && el.contains(other))) problems.push(message);
  }
  return problems.slice(0, 20);
}
"""


def overflows(page) -> list[str]:
    """What does not fit on the page as it is now laid out (empty when everything fits)."""
    return page.evaluate(OVERFLOWS_JS)

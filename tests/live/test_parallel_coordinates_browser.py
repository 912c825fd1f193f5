"""The study page's "Parameters vs accuracy" (static/js/study_parallel.js) in a real Chromium.

One line per trial (pruned, diverged, completed and best told apart), brushing an axis with the
mouse filters the trial table to the trials in the range, "Clear filter" restores it, a worker's new
trial appears live, and on a 390 px phone (touch, under the enforced Content-Security-Policy) the
card fits and a finger brushes an axis.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import pytest

from tests.screenshots import snap

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TRIALS = 1000
LINES = "#parallel-plot path.pc-line"

LINE_CLASSES = f"""() => Array.from(document.querySelectorAll('{LINES}')).map((p) => ({{
  number: Number(p.dataset.trial), cls: p.getAttribute('class'), stroke: getComputedStyle(p).stroke,
  dash: getComputedStyle(p).strokeDasharray }}))"""

ROW_NUMBERS = """() => Array.from(document.querySelectorAll('#live-trials-body tr.trial-row td:first-child'))
  .map((td) => Number(td.textContent.trim().slice(1).split(' ')[0]))"""

# Every element of the card inside the card's box (SVG text included); the offenders if not.
OVERFLOWING = """() => {
  const card = document.getElementById('parallel-card').getBoundingClientRect();
  const out = [];
  for (const el of document.querySelectorAll('#parallel-card *')) {
    const r = el.getBoundingClientRect();
    if (!r.width && !r.height) continue;  // hidden, <title>
    if (r.left < card.left - 0.5 || r.right > card.right + 0.5 || r.width > card.width)
      out.push(`${el.tagName}.${el.getAttribute('class')} "${(el.textContent || '').slice(0, 30)}" ${r.left}-${r.right}`);
  }
  return {out, card: [card.left, card.right]};
}"""


def open_study(chromium, server, seeded, viewport, enforce_csp=False, **options):
    # bypass_csp as in test_live_page_browser.py: wait_for_function's strings are eval'd, which the policy forbids.
    context = chromium.new_context(viewport=viewport, bypass_csp=not enforce_csp, **options)
    context.add_cookies([{"name": "sessionid", "value": seeded["session"], "url": server.url}])
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: "Content Security Policy" in m.text and errors.append(m.text))
    page.goto(f"{server.url}/studies/{seeded['study']}/")
    return page, errors


def axis_box(page, key):
    """The screen box of an axis's line: x is the axis, top and bottom its ends."""
    line = page.locator(f'.pc-axis[data-axis="{key}"] .pc-axis-line')
    line.scroll_into_view_if_needed()
    box = line.bounding_box()
    assert box and box["height"] > 150, box
    return box


def drag(page, key, top_fraction, bottom_fraction):
    """Press on the axis `top_fraction` of the way down, drag to `bottom_fraction`, release."""
    box = axis_box(page, key)
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + top_fraction * box["height"])
    page.mouse.down()
    page.mouse.move(x, box["y"] + (top_fraction + bottom_fraction) / 2 * box["height"], steps=4)
    page.mouse.move(x, box["y"] + bottom_fraction * box["height"], steps=4)
    page.mouse.up()


def brush_range(page, key):
    rect = page.locator(f'.pc-brush[data-axis="{key}"]')
    return float(rect.get_attribute("data-low")), float(rect.get_attribute("data-high"))


def shown_rows(page, expected: set[int]) -> list[int]:
    page.wait_for_function(f"document.querySelectorAll('#live-trials-body tr.trial-row').length === {len(expected)}")
    return page.evaluate(ROW_NUMBERS)


def note_text(page) -> str:
    return " ".join(page.locator("#parallel-note").inner_text().split())


def test_parallel_coordinates_draw_every_trial_and_brushing_filters_the_table(chromium, web_server):
    ARTIFACTS.mkdir(exist_ok=True)
    seeded = web_server.seed(action="study", trials=TRIALS)
    page, errors = open_study(chromium, web_server, seeded, {"width": 1366, "height": 900})
    page.wait_for_function(f"document.querySelectorAll('{LINES}').length === {TRIALS}")
    page.wait_for_function(f"document.querySelectorAll('#live-trials-body tr.trial-row').length === {TRIALS}")
    print(
        f"\n{TRIALS} trials: table and parallel coordinates drawn {page.evaluate('performance.now()'):.0f} ms after navigation start"
    )
    snapshot = page.request.get(f"{web_server.url}/studies/{seeded['study']}/snapshot.json").json()
    trials = {t["number"]: t for t in snapshot["trials"]}
    best = snapshot["study"]["best_trial"]["number"]
    assert len(trials) == TRIALS

    # One axis per searched (varying) parameter in the trials' order, then accuracy; learning rate on a log axis.
    names = list(dict.fromkeys(k for t in snapshot["trials"] for k in t["params"]))
    searched = [k for k in names if len({repr(t["params"].get(k)) for t in snapshot["trials"]}) > 1]
    axes = page.eval_on_selector_all(".pc-axis", "gs => gs.map((g) => [g.dataset.axis, g.dataset.scale])")
    assert [a for a, _ in axes] == [*searched, "accuracy"] and "label_smoothing" not in searched
    scales = dict(axes)
    assert scales["learning_rate"] == "log" and scales["weight_decay"] == "log"
    assert scales["optimizer"] == "category" and scales["augment"] == "category" and scales["accuracy"] == "linear"
    lr_ticks = page.locator('.pc-axis[data-axis="learning_rate"] .pc-tick').all_text_contents()
    assert {"0.001", "0.01"} <= set(lr_ticks), lr_ticks
    assert set(page.locator('.pc-axis[data-axis="augment"] .pc-tick').all_text_contents()) == {"no", "yes"}

    # One line per trial, its class and look from its state.
    lines = {line["number"]: line for line in page.evaluate(LINE_CLASSES)}
    assert set(lines) == set(trials)
    for number, line in lines.items():
        state = trials[number]["state"]
        assert f"state-{state}" in line["cls"].split(), line
        group = (
            "pc-best"
            if number == best
            else {"completed": "pc-completed", "pruned": "pc-stopped", "diverged": "pc-failed"}[state]
        )
        assert group in line["cls"].split(), line
    by_state = {
        s: [line for n, line in lines.items() if trials[n]["state"] == s and n != best]
        for s in ("completed", "pruned", "diverged")
    }
    assert all(by_state.values()), {s: len(v) for s, v in by_state.items()}
    # Past 200 trials every line is solid (dashes would make each repaint several times slower): told apart by colour.
    assert page.locator("#parallel-card.pc-crowd").count() == 1
    assert {line["stroke"] for line in by_state["diverged"]} == {"rgb(224, 49, 49)"}
    assert {line["stroke"] for line in by_state["pruned"]} == {"rgb(134, 142, 150)"}
    assert all(line["dash"] == "none" for line in by_state["completed"])
    assert len({line["stroke"] for line in by_state["completed"]}) > 20  # coloured by accuracy
    assert lines[best]["stroke"] == "rgb(232, 89, 12)"
    assert page.locator("#parallel-note").is_hidden()

    # Brush the learning-rate axis from 25% to 60% of the way down: the range is where the pointer was.
    started = time.monotonic()
    drag(page, "learning_rate", 0.25, 0.60)
    low, high = brush_range(page, "learning_rate")
    rates = [t["params"]["learning_rate"] for t in trials.values()]
    a, b = math.log10(min(rates)), math.log10(max(rates))
    assert abs(math.log10(high) - (b - 0.25 * (b - a))) < 0.02, (high, min(rates), max(rates))
    assert abs(math.log10(low) - (b - 0.60 * (b - a))) < 0.02, (low, min(rates), max(rates))
    in_lr = {n for n, t in trials.items() if low <= t["params"]["learning_rate"] <= high}
    assert 50 < len(in_lr) < TRIALS - 50
    rows = shown_rows(page, in_lr)
    brush_ms = (time.monotonic() - started) * 1000
    assert sorted(rows) == sorted(in_lr) and len(rows) == len(set(rows))
    assert note_text(page) == f"Showing {len(in_lr):,} of {TRIALS:,} trials — Clear filter"
    assert page.locator("#trial-count").inner_text() == f"showing {len(in_lr):,} of {TRIALS:,} trials (filtered)"
    assert page.locator(f"{LINES}.pc-dim").count() == TRIALS - len(in_lr)
    print(
        f"brush on {TRIALS} trials: table filtered {brush_ms:.0f} ms after the drag started (Playwright's moves included)"
    )
    assert brush_ms < 5000

    # A second brush, on accuracy (its top 40%): the table shows the trials inside both.
    drag(page, "accuracy", 0.05, 0.45)
    acc_low, acc_high = brush_range(page, "accuracy")
    assert acc_low < acc_high
    both = {n for n in in_lr if acc_low <= trials[n]["value"] <= acc_high}
    assert 0 < len(both) < len(in_lr)
    assert sorted(shown_rows(page, both)) == sorted(both)
    assert note_text(page) == f"Showing {len(both):,} of {TRIALS:,} trials — Clear filter"
    page.locator("#parallel-card").scroll_into_view_if_needed()
    snap(page, ARTIFACTS / "parallel-coordinates-1366.png")
    card = page.locator("#parallel-card").bounding_box()
    main = page.locator("main.container").bounding_box()
    assert card["width"] > main["width"] - 60  # full width of the page's column

    # A click without a drag on the accuracy axis clears that brush only; Clear filter clears the rest.
    box = axis_box(page, "accuracy")
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert sorted(shown_rows(page, in_lr)) == sorted(in_lr)
    assert page.locator('.pc-brush[data-axis="accuracy"]').count() == 0
    page.locator("#parallel-clear").click()
    assert sorted(shown_rows(page, set(trials))) == sorted(trials)
    assert page.locator("#parallel-note").is_hidden() and page.locator(f"{LINES}.pc-dim").count() == 0
    assert page.locator("#trial-count").inner_text() == f"{TRIALS} trials"

    # A worker's new trial: a running line that stops at the last parameter, then the best one.
    player = web_server.play(study=seeded["study"], number=TRIALS, epochs=3, pause=1.0)
    new_line = page.locator(f'{LINES}[data-trial="{TRIALS}"]')
    new_line.wait_for(state="attached")
    assert "pc-running" in new_line.get_attribute("class").split()
    assert new_line.get_attribute("d").count("L") == len(searched) - 1  # no accuracy yet: parameters only
    assert player.wait(timeout=60) == 0, player.stderr.read()
    page.wait_for_function(f"document.querySelector('{LINES}[data-trial=\"{TRIALS}\"]').classList.contains('pc-best')")
    assert page.locator(LINES).count() == TRIALS + 1
    assert page.locator(f"{LINES}.pc-best").count() == 1
    assert errors == []


def test_parallel_coordinates_fit_a_phone_and_brush_by_touch(chromium, web_server):
    """390 px wide, touch only, the Content-Security-Policy enforced: nothing wider than the card, a finger brushes."""
    ARTIFACTS.mkdir(exist_ok=True)
    seeded = web_server.seed(action="study", trials=TRIALS, outliers=True)
    page, errors = open_study(chromium, web_server, seeded, {"width": 390, "height": 844}, enforce_csp=True,
                              has_touch=True, is_mobile=True, device_scale_factor=2)  # fmt: skip
    page.locator(LINES).nth(TRIALS - 1).wait_for(state="attached")
    page.locator("#live-trials-body tr.trial-row").nth(TRIALS - 1).wait_for(state="attached")
    assert page.locator(LINES).count() == TRIALS
    # The outliers of seed_study: trial 0 diverged, trial 1 pruned.
    assert "state-diverged" in page.locator(f'{LINES}[data-trial="0"]').get_attribute("class").split()
    assert "state-pruned" in page.locator(f'{LINES}[data-trial="1"]').get_attribute("class").split()

    page.locator("#parallel-card").scroll_into_view_if_needed()
    fit = page.evaluate(OVERFLOWING)
    assert fit["out"] == [], fit
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    svg = page.locator("#parallel-plot svg").bounding_box()
    plot = page.locator("#parallel-plot").bounding_box()
    assert abs(svg["width"] - plot["width"]) < 1  # the drawing scales to the card
    # On a phone the axes are named by the table's short names (lr, wd), the full name in the axis's tooltip.
    assert page.locator('.pc-axis[data-axis="learning_rate"] .pc-name').text_content() == "lr"
    assert (
        page.locator('.pc-axis[data-axis="learning_rate"] > title')
        .text_content()
        .startswith("learning rate (log scale")
    )

    # A finger drags along the learning-rate axis (touch events, so touch-action decides who gets them).
    box = axis_box(page, "learning_rate")
    x = box["x"] + box["width"] / 2
    cdp = page.context.new_cdp_session(page)
    ys = [box["y"] + f * box["height"] for f in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)]
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": ys[0]}]})
    for y in ys[1:]:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    brush = page.locator('.pc-brush[data-axis="learning_rate"]')
    brush.wait_for()
    low, high = float(brush.get_attribute("data-low")), float(brush.get_attribute("data-high"))
    snapshot = page.request.get(f"{web_server.url}/studies/{seeded['study']}/snapshot.json").json()
    inside = sorted(t["number"] for t in snapshot["trials"] if low <= t["params"]["learning_rate"] <= high)
    page.locator("#parallel-note").wait_for()
    text = " ".join(page.locator("#parallel-note").inner_text().split())
    assert re.fullmatch(rf"Showing {len(inside):,} of {TRIALS:,} trials — Clear filter", text), (text, len(inside))
    assert sorted(page.evaluate(ROW_NUMBERS)) == inside
    assert page.evaluate(OVERFLOWING)["out"] == []
    page.locator("#parallel-card").scroll_into_view_if_needed()
    snap(page, ARTIFACTS / "parallel-coordinates-390.png")
    page.locator("#parallel-clear").tap()
    page.locator("#parallel-note").wait_for(state="hidden")
    page.locator("#live-trials-body tr.trial-row").nth(TRIALS - 1).wait_for(state="attached")
    assert errors == []


def test_a_small_study_draws_pruned_trials_dashed_and_diverged_ones_dotted(chromium, web_server):
    seeded = web_server.seed(action="study", trials=30, outliers=True)
    page, errors = open_study(chromium, web_server, seeded, {"width": 1366, "height": 900})
    page.wait_for_function(f"document.querySelectorAll('{LINES}').length === 30")
    lines = {line["number"]: line for line in page.evaluate(LINE_CLASSES)}
    assert page.locator("#parallel-card.pc-crowd").count() == 0
    # seed_study's outliers: trial 0 diverged, trial 1 pruned.
    assert (
        "pc-failed" in lines[0]["cls"]
        and lines[0]["dash"] not in ("none", "")
        and lines[0]["stroke"] == "rgb(224, 49, 49)"
    )
    assert "pc-stopped" in lines[1]["cls"] and lines[1]["dash"] not in ("none", "")
    legend = page.eval_on_selector(".parallel-legend .swatch.pruned", "s => getComputedStyle(s).borderTopStyle")
    assert legend == "dashed"
    assert errors == []

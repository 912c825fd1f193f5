"""One way to write each value: the server's formatting module and the browser's give the same text."""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from platform_web.core import formatting

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = {"number": "number", "percent": "percent", "count": "count", "size": "size", "duration": "duration",
             "milliseconds": "milliseconds", "value": "value"}  # fmt: skip


def sample_values() -> list:
    rng = random.Random(0)
    values: list = [
        None,
        0,
        0.0,
        1,
        2400,
        1234.5,
        0.0007780155576901416,
        0.0021,
        3.14159,
        0.9562,
        0.956,
        17.32,
        1.4,
        12_345_678,
        11_800_000,
        999,
        999.96,
        9.996e-5,
        1e-8,
        2e28,
        -0.5,
        352,
        59.6,
        3725,
        True,
        False,
    ]
    for _ in range(400):
        values.append(rng.choice([-1, 1]) * 10 ** rng.uniform(-9, 9))
    for _ in range(200):
        values.append(rng.random())
    for _ in range(100):
        values.append(rng.randint(0, 10**7))
    return values


# The range each format is for (a percentage of 2e28 or a duration of 1e-9 s is no value the platform shows).
RANGES = {"percent": (0, 1), "size": (0, 1e15), "duration": (0, 1e7), "count": (-1e15, 1e15)}


def in_range(name: str, value) -> bool:
    low, high = RANGES.get(name, (-math.inf, math.inf))
    return value is None or isinstance(value, bool) or low <= value <= high


def python_texts(values: list) -> dict[str, list[str]]:
    answer = {}
    for name in FUNCTIONS:
        function = getattr(formatting, name)
        answer[name] = [function(v) if in_range(name, v) else None for v in values]
    return answer


def browser_texts(values: list) -> dict[str, list[str]]:
    script = (
        "const F = require(process.argv[1]); const values = JSON.parse(process.argv[2]); const names = "
        f"{json.dumps(FUNCTIONS)}; const out = {{}};"
        "for (const [py, js] of Object.entries(names)) out[py] = values.map((v) => F[js](v));"
        "console.log(JSON.stringify(out));"
    )
    done = subprocess.run(["node", "-e", script, str(ROOT / "static/js/format.js"), json.dumps(values)],
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return json.loads(done.stdout)


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed (make install needs it too)")
def test_server_and_browser_write_every_value_the_same():
    values = sample_values()
    server, browser = python_texts(values), browser_texts(values)
    for name in FUNCTIONS:
        pairs = zip(values, server[name], browser[name], strict=True)
        differ = [(v, s, b) for v, s, b in pairs if s is not None and s != b]
        assert not differ, f"{name}: (value, server, browser) {differ[:10]}"


def test_the_rules():
    assert formatting.number(0.0007780155576901416) == "7.78e-4"
    assert formatting.number(0.0021) == "0.0021"
    assert formatting.number(2e28) == "2e28" and formatting.number(1234.5) == "1,235"
    assert formatting.percent(0.9562) == "95.6%" and formatting.percent(None) == "—"
    assert formatting.size(12_345_678) == "12.3 MB" and formatting.size(512) == "512 B"
    assert formatting.count(2400) == "2,400"
    assert formatting.duration(352) == "5 min 52 s" and formatting.duration(3.21) == "3.2 s"
    assert formatting.duration(3725) == "1 h 02 min"
    assert formatting.milliseconds(1.4) == "1.4 ms"
    assert formatting.value(True) == "yes" and formatting.value([32, 64]) == "32, 64"

"""What a trial leaves in its folder besides the engine's files: state.json and events.ndjson.

They let a restarted service answer for trials it ran before, and resume one it
was running when it stopped. state.json is replaced atomically; events.ndjson
is append-only, one JSON event a line, and a torn last line (the process died
mid-write) is ignored.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"
EVENTS_FILE = "events.ndjson"


def read_state(work_dir: Path) -> dict[str, Any] | None:
    """The trial's stored state, or None when the folder holds no (readable) state.json."""
    try:
        data = json.loads((work_dir / STATE_FILE).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # a state.json that cannot be read is treated as no trial: a POST starts it again
    return data if isinstance(data, dict) else None


def write_state(work_dir: Path, state: dict[str, Any]) -> None:
    """Replace state.json atomically (a reader never sees half a file)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    temporary = work_dir / f".{STATE_FILE}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(state, indent=1))
    os.replace(temporary, work_dir / STATE_FILE)


def read_events(work_dir: Path) -> list[dict[str, Any]]:
    """Every complete event in events.ndjson, in order (a torn or corrupt line ends the list)."""
    try:
        text = (work_dir / EVENTS_FILE).read_text()
    except FileNotFoundError:
        return []
    events: list[dict[str, Any]] = []
    for line in text.split("\n"):
        if not line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            break
        if not isinstance(event, dict) or event.get("offset") != len(events):
            break
        events.append(event)
    return events


def append_event(work_dir: Path, event: dict[str, Any]) -> None:
    """Add one event line; flushed to the OS before returning, so a killed process keeps it."""
    with (work_dir / EVENTS_FILE).open("a") as stream:
        stream.write(json.dumps(event) + "\n")


def rewrite_events(work_dir: Path, events: list[dict[str, Any]]) -> None:
    """Replace events.ndjson with `events` (drops a torn last line before appending again)."""
    temporary = work_dir / f".{EVENTS_FILE}.{os.getpid()}.tmp"
    temporary.write_text("".join(json.dumps(event) + "\n" for event in events))
    os.replace(temporary, work_dir / EVENTS_FILE)


def to_plain(value: Any, data_dir: Path) -> Any:
    """Engine objects as JSON-ready values: dataclasses as dicts, paths relative to `data_dir`, NaN as None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {
            str(k): relative_path(Path(v), data_dir) if str(k).endswith("_path") and isinstance(v, str) and v
            else to_plain(v, data_dir)
            for k, v in value.items()
        }  # fmt: skip
    if isinstance(value, list | tuple):
        return [to_plain(v, data_dir) for v in value]
    if isinstance(value, Path):
        return relative_path(value, data_dir)
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # numpy / torch scalars
        return to_plain(value.item(), data_dir)
    return str(value)


def relative_path(path: Path, data_dir: Path) -> str:
    """`path` relative to `data_dir` when it lies inside it (as predict and downloads expect), else as given."""
    try:
        return path.resolve().relative_to(data_dir.resolve()).as_posix()
    except ValueError:
        return str(path)

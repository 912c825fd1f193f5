"""The user-facing snippet (`snippet.py`) as text, for pages that show or offer it for download."""

from __future__ import annotations

from pathlib import Path

SNIPPET_FILENAME = "classify.py"


def snippet_source() -> str:
    """The full text of the self-contained classify script (needs only torch, torchvision, Pillow)."""
    return (Path(__file__).with_name("snippet.py")).read_text(encoding="utf-8")

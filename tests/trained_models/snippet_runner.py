"""Running the model page's snippet as a user would: download, save, run in a fresh interpreter."""

from __future__ import annotations

import html
import json
import subprocess
import sys
from pathlib import Path

from django.urls import reverse


def run_snippet(folder: Path, model_file: str, images: list[Path]) -> list[dict]:
    """`python -I classify.py <model> <images...>` in `folder`, where nothing of the project is importable."""
    env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "HOME": str(folder)}
    probe = subprocess.run([sys.executable, "-I", "-c", "import trainer_api"], cwd=folder, env=env,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert probe.returncode != 0, "the project must not be importable where the snippet runs"
    done = subprocess.run(
        [sys.executable, "-I", "classify.py", model_file, *map(str, images), "--top-k", "5"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def downloaded_with_snippet(client, trial, folder: Path) -> str:
    """Download the .pth and copy the snippet from the model page into `folder`, as a user would."""
    response = client.get(reverse("trained_models:download", args=[trial.study_id, trial.number, "pth"]))
    name = response["Content-Disposition"].split('filename="')[1].rstrip('"')
    (folder / name).write_bytes(b"".join(response.streaming_content))
    page = client.get(reverse("trained_models:model", args=[trial.study_id, trial.number]))
    assert page.context["unavailable"] is None, page.context["unavailable"]
    snippet = page.context["snippet"]
    assert snippet in html.unescape(page.content.decode()), "the page shows the whole snippet"
    assert name in snippet, "the snippet names the file the page offers"
    (folder / "classify.py").write_text(snippet)
    return name

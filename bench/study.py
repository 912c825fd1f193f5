"""Benchmark: a default study with a 5-minute budget on CPU, through the whole platform.

Generates a 10-class dataset of 8,000 images 28x28 (noisy shapes: learnable, not
trivial), starts the platform (web, Celery worker, training service) on free
ports in a temporary folder, runs `manage.py run_study --zip ... --timeout 300`
with the form's defaults, then reads the records and prints:

- seconds from the study's start to its first completed trial (goal: < 120 s);
- the best validation accuracy against chance (0.10 for 10 balanced classes);
- how the trials ended (completed, pruned, diverged, failed).

    .venv/bin/python bench/study.py [--timeout 300] [--images 8000]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import _claim_redis_db  # noqa: E402
from tests.platform_processes import start_platform  # noqa: E402

CLASSES = 10
SIZE = 28
FIRST_TRIAL_GOAL_S = 120


def shape_mask(label: int, rng: np.random.Generator) -> np.ndarray:
    """One of ten shapes, placed and sized at random."""
    y, x = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    cx, cy, r = rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.65), rng.uniform(0.18, 0.3)
    dx, dy = x - cx, y - cy
    period = rng.uniform(0.2, 0.3)
    return [
        dx**2 + dy**2 < r**2,  # disc
        (np.abs(dx) < r) & (np.abs(dy) < r),  # square
        (np.abs(dx) < r / 3) | (np.abs(dy) < r / 3),  # cross
        np.abs(dx - dy) < r / 3,  # diagonal
        (dx**2 + dy**2 < r**2) & (dx**2 + dy**2 > (r * 0.6) ** 2),  # ring
        (y / period) % 1 < 0.5,  # horizontal stripes
        (x / period) % 1 < 0.5,  # vertical stripes
        (dy > -r) & (dy < r) & (np.abs(dx) < (dy + r) / 2),  # triangle
        ((x / period).astype(int) + (y / period).astype(int)) % 2 == 0,  # checkerboard
        (np.abs(dx) < r) & (np.abs(dy) < r / 3),  # bar
    ][label]


def write_zip(path: Path, images: int, seed: int = 0) -> None:
    """`images` PNGs in 10 class folders; low contrast and strong noise keep it from being trivial."""
    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for index in range(images):
            label = index % CLASSES
            background = rng.uniform(40, 160, 3)
            foreground = background + rng.choice([-1, 1]) * rng.uniform(30, 70, 3)
            pixels = np.where(shape_mask(label, rng)[..., None], foreground, background)
            pixels = np.clip(pixels + rng.normal(0, 35, pixels.shape), 0, 255).astype(np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format="PNG")
            archive.writestr(f"shapes/class_{label}/{index:05d}.png", buffer.getvalue())


RESULT_QUERY = """
import json
from platform_web.studies.models import Study, Trial
study = Study.objects.order_by("-created_at").first()
done = study.trials.filter(state="completed").exclude(finished_at=None).order_by("finished_at").first()
counts = {s: study.trials.filter(state=s).count() for s in ("completed", "pruned", "diverged", "failed", "cancelled")}
print(json.dumps({
    "state": study.state,
    "first_completed_s": (done.finished_at - study.started_at).total_seconds() if done else None,
    "study_seconds": (study.finished_at - study.started_at).total_seconds() if study.finished_at else None,
    "best_accuracy": study.best_trial.value if study.best_trial else None,
    "best_params": study.best_trial.params if study.best_trial else None,
    "trials": counts,
}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=int, default=300, help="the study's time budget in seconds")
    parser.add_argument("--images", type=int, default=8000)
    args = parser.parse_args()

    claimed = _claim_redis_db()
    if claimed is None:
        raise SystemExit("bench/study.py needs the Redis at 127.0.0.1:6379 (or a free test database on it)")
    redis_url, admin, claim_key = claimed
    var_dir = Path(tempfile.mkdtemp(prefix="bench-study-"))
    zip_path = var_dir / "shapes.zip"
    started = time.monotonic()
    write_zip(zip_path, args.images)
    print(f"dataset: {args.images:,} PNG {SIZE}x{SIZE} in {CLASSES} classes, {zip_path.stat().st_size / 1e6:.1f} MB "
          f"(made in {time.monotonic() - started:.1f} s)", flush=True)  # fmt: skip
    platform = start_platform(var_dir, redis_url)
    try:
        print(f"platform up at {platform.url}; running a default study with a {args.timeout} s budget", flush=True)
        run = platform.manage("run_study", "--zip", str(zip_path), "--timeout", str(args.timeout),
                              timeout=args.timeout + 600)  # fmt: skip
        tail = run.stdout.replace("\r", "\n").strip().splitlines()
        print("\n".join(line for line in tail[-12:] if line.strip()))
        if run.returncode != 0:
            print(run.stderr[-3000:])
            return 1
        result = json.loads(platform.manage("shell", "-c", RESULT_QUERY).stdout.strip().splitlines()[-1])
    finally:
        platform.supervisor.stop_all()
        admin.delete(claim_key)

    chance = 1 / CLASSES
    first = result["first_completed_s"]
    best = result["best_accuracy"] or 0.0
    print()
    print(f"first completed trial after {first:.1f} s (goal < {FIRST_TRIAL_GOAL_S} s)" if first is not None
          else "no trial completed")  # fmt: skip
    print(f"best validation accuracy {best:.3f} = {best / chance:.1f}x chance ({chance:.2f})")
    print("trials: " + ", ".join(f"{n} {state}" for state, n in result["trials"].items()))
    print(json.dumps({"bench": "study", "images": args.images, "timeout_s": args.timeout, **result,
                      "chance": chance, "best_vs_chance": round(best / chance, 2),
                      "first_trial_goal_met": first is not None and first < FIRST_TRIAL_GOAL_S}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

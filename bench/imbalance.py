"""Benchmark: class weighting on an imbalanced dataset, with the default form, on and off in the same run.

The dataset (`bench/synthetic.py`'s pen drawings): eight classes, four of them with ten
times the training images of the other four (10:1), and the same number of validation
images in every class, so that a model which ignores the rare classes cannot hide it.
Both arms run the whole platform (web, Celery worker, training service) on free ports and
`manage.py run_study --zip ... --trials 2` with the form's defaults (the two portfolio
configurations every default study starts with, each for the middle of the epoch range:
no time budget, so that the result does not depend on how busy the machine is; `--budget`
gives both arms a time budget instead), one after the other with the same seed; they
differ only in `--class-weighting`:

- default: what the form proposes for this dataset (balanced: its ratio is above 3);
- off: `--class-weighting none`, every image counting alike.

For each arm it evaluates the study's best model on the validation split (the model
page's evaluation) and prints accuracy, balanced accuracy (mean recall over classes) and
macro-F1, then one JSON line.

    .venv/bin/python bench/imbalance.py [--trials 2 | --budget SECONDS] [--common 160] [--ratio 10]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import synthetic  # noqa: E402

from tests.conftest import _claim_redis_db  # noqa: E402
from tests.platform_processes import start_platform  # noqa: E402

CLASSES = synthetic.DRAWING_CLASSES[:8]
VAL_PER_CLASS = 30

QUERY = """
import json
from platform_web.studies.models import Study
from platform_web.trained_models.metrics import balanced_accuracy, macro_f1
from worker.model_jobs import evaluation_for
study = Study.objects.order_by("-pk").first()
best = study.best_trial
result = evaluation_for(best)
matrix = result["confusion_matrix"]
print(json.dumps({
    "state": study.state, "class_weighting": study.space.get("class_weighting"),
    "best_trial": best.number, "trials": study.trials.count(), "accuracy": result["accuracy"],
    "balanced_accuracy": balanced_accuracy(matrix), "macro_f1": macro_f1(matrix),
    "recall_per_class": [row[i] / sum(row) for i, row in enumerate(matrix)],
}))
"""


def make_imbalanced(path: Path, common: int, ratio: int, seed: int = 5) -> dict[str, int]:
    """Drawings zip with `train/` + `val/`: the first half of the classes get `common` training images, the rest 1/ratio."""
    rng = np.random.default_rng(seed)
    counts = {}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for label, name in enumerate(CLASSES):
            train = common if label < len(CLASSES) // 2 else max(2, common // ratio)
            counts[name] = train
            for index in range(train + VAL_PER_CLASS):
                split = "val" if index < VAL_PER_CLASS else "train"
                archive.writestr(f"{split}/{name}/{index:04d}.png", synthetic._png(synthetic.drawing_image(label, rng)))
    return counts


def run_arm(zip_path: Path, budget: dict, weighting: str, redis_url: str, work: Path) -> dict:
    threads = str(os.cpu_count() or 1)
    platform = start_platform(work / f"platform-{weighting}", redis_url, extra_env={"OMP_NUM_THREADS": threads})
    try:
        args = ["run_study", "--zip", str(zip_path)]
        args += ["--timeout", str(budget["seconds"])] if budget["seconds"] else ["--trials", str(budget["trials"])]
        if weighting != "default":
            args += ["--class-weighting", weighting]
        run = platform.manage(*args, timeout=(budget["seconds"] or 3600) + 900)
        if run.returncode != 0:
            raise RuntimeError(f"run_study failed:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}")
        query = platform.manage("shell", "-c", QUERY, timeout=600)
        if query.returncode != 0:
            raise RuntimeError(f"evaluation failed:\n{query.stderr[-3000:]}")
        return json.loads(query.stdout.strip().splitlines()[-1])
    finally:
        platform.supervisor.stop_all()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=2, help="each study's trial budget (no time budget)")
    parser.add_argument("--budget", type=int, help="each study's time budget in seconds instead of --trials")
    parser.add_argument("--common", type=int, default=160, help="training images of each common class")
    parser.add_argument("--ratio", type=int, default=10, help="common to rare class size")
    args = parser.parse_args()
    claimed = _claim_redis_db()
    if claimed is None:
        raise SystemExit("bench/imbalance.py needs the Redis at 127.0.0.1:6379 (or a free test database on it)")
    redis_url, admin, claim = claimed
    results = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-imbalance-") as tmp:
            work = Path(tmp)
            zip_path = work / "imbalanced.zip"
            counts = make_imbalanced(zip_path, args.common, args.ratio)
            print(f"== {len(CLASSES)} classes, training images {counts}, {VAL_PER_CLASS} validation each", flush=True)
            for arm in ("default", "none"):
                budget = {"seconds": args.budget, "trials": args.trials}
                results[arm] = run_arm(zip_path, budget, arm, redis_url, work)
                r = results[arm]
                print(f"   {arm} (class weighting {r['class_weighting']}): accuracy {r['accuracy']:.4f}, balanced "
                      f"{r['balanced_accuracy']:.4f}, macro-F1 {r['macro_f1']:.4f}, {r['trials']} trials", flush=True)  # fmt: skip
    finally:
        admin.delete(claim)
    on, off = results["default"], results["none"]
    print()
    print(f"{'arm':24} {'accuracy':>9} {'balanced':>9} {'macro-F1':>9}")
    for label, r in (("default form (" + on["class_weighting"] + ")", on), ("class weighting off", off)):
        print(f"{label:24} {r['accuracy']:9.4f} {r['balanced_accuracy']:9.4f} {r['macro_f1']:9.4f}")
    gain = on["balanced_accuracy"] - off["balanced_accuracy"]
    print(f"balanced accuracy, default minus off: {gain:+.4f}")
    print(json.dumps({"budget_s": args.budget, "trials": None if args.budget else args.trials, "ratio": args.ratio, "default": on, "off": off,
                      "balanced_accuracy_gain": gain}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The offline study behind the portfolio start (platform_web/studies/portfolio.py).

Each candidate configuration trains through the engine (`run_trial`, the trainer's own
code path: bf16 on CPUs that have it, channels_last, batch augmentation) on each
generated dataset of `bench/synthetic.py`, with its epochs sized to the same time slice
by the engine's speed probe, exactly as the platform sizes a portfolio trial. It prints
every candidate's best validation accuracy per dataset, then the portfolio picked
greedily: first the candidate with the best mean accuracy, then the one that adds most
to the mean of the best-so-far, and so on.

    .venv/bin/python bench/portfolio.py [--slice 120] [--datasets photos,drawings,scans] [--only c1,c6]

Results on this project's CPU machine (2 cores, AVX512-BF16), --slice 120:
see the studies README ("Why these defaults").
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import synthetic  # noqa: E402

from trainer_api.engine import TrialConfig, measure_speed, run_trial  # noqa: E402
from trainer_api.engine.manifest import read_manifest  # noqa: E402

BASE = {"architecture": "small_resnet", "width": 32, "depth": 1, "batch_size": 64, "optimizer": "adamw",
        "learning_rate": 4e-3, "weight_decay": 5e-4, "augment": True, "augment_strength": 0.25,
        "label_smoothing": 0.1, "scheduler": "onecycle"}  # fmt: skip
CANDIDATES = {
    "c1": {},
    "c2": {"width": 48, "learning_rate": 3e-3},
    "c3": {"width": 24},
    "c4": {"depth": 0},
    "c5": {"optimizer": "sgd", "learning_rate": 0.1},
    "c6": {"architecture": "bn_cnn", "depth": 4, "learning_rate": 3e-3, "augment_strength": 0.2},
    "c7": {"architecture": "bn_cnn", "width": 24, "depth": 4, "learning_rate": 3e-3, "augment_strength": 0.2},
    "c8": {"augment_strength": 0.5},
    "c9": {"half_size": True},
    "c10": {"batch_size": 128, "learning_rate": 6e-3},
}
OVERHEAD_S = 4.0


def input_size(dataset_dir: Path) -> int:
    """The platform's default: the largest standard size not above the median side, 64 at most on CPU."""
    from PIL import Image

    manifest = read_manifest(dataset_dir)
    sides = sorted(min(Image.open(p).size) for p in manifest.paths[:: max(1, len(manifest.paths) // 200)])
    median = sides[len(sides) // 2]
    return max(s for s in (16, 24, 28, 32, 48, 64) if s <= max(16, min(median, 64)))


def run_candidate(name: str, dataset_dir: Path, work: Path, slice_s: float) -> dict:
    values = dict(BASE, **CANDIDATES[name])
    size = input_size(dataset_dir)
    if values.pop("half_size", False):
        size = max(16, size // 2)
    manifest = read_manifest(dataset_dir)
    n_train = sum(1 for s in manifest.splits if s == "train")
    n_val = len(manifest.splits) - n_train
    config = TrialConfig(**values, input_size=size, epochs=1)
    speed = measure_speed(config, len(manifest.classes), "cpu")
    epoch_s = speed.epoch_seconds(n_train, n_val) * 1.25
    epochs = max(2, min(40, math.floor((slice_s - OVERHEAD_S) / epoch_s)))
    config = TrialConfig(**values, input_size=size, epochs=epochs)
    started = time.monotonic()
    result = run_trial(config, dataset_dir, work / name, work / "cache", device="cpu")
    return {
        "best": result.best_val_accuracy,
        "epochs": epochs,
        "seconds": round(time.monotonic() - started, 1),
        "probe_epoch_s": round(epoch_s / 1.25, 2),
        "real_epoch_s": round(result.train_seconds / max(1, result.epochs_run), 2),
        "size": size,
    }


def greedy_portfolio(table: dict[str, dict[str, float]], size: int) -> list[str]:
    """Candidates chosen one by one to maximise the mean over datasets of the best accuracy so far."""
    chosen: list[str] = []
    datasets = sorted({d for row in table.values() for d in row})
    while len(chosen) < min(size, len(table)):

        def gain(name: str) -> float:
            return sum(max(table[c][d] for c in [*chosen, name]) for d in datasets) / len(datasets)

        chosen.append(max((n for n in table if n not in chosen), key=gain))
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slice", type=float, default=120, help="seconds each candidate's epochs are sized to")
    parser.add_argument("--datasets", default=",".join(synthetic.MAKERS))
    parser.add_argument("--only", help="comma-separated candidate names (default: all)")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(CANDIDATES)
    table: dict[str, dict[str, float]] = {name: {} for name in names}
    detail: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-portfolio-") as tmp:
        for dataset in args.datasets.split(","):
            folder = Path(tmp) / dataset
            zip_path = Path(tmp) / f"{dataset}.zip"
            synthetic.MAKERS[dataset](zip_path)
            synthetic.extract_as_dataset(zip_path, folder)
            for name in names:
                row = run_candidate(name, folder, Path(tmp) / f"work-{dataset}", args.slice)
                table[name][dataset] = row["best"]
                detail[f"{dataset}/{name}"] = row
                print(f"{dataset:9} {name:4} {json.dumps(row)}", flush=True)
    datasets = args.datasets.split(",")
    print()
    print(f"{'candidate':10}" + "".join(f"{d:>10}" for d in datasets) + f"{'mean':>10}  settings")
    for name in names:
        values = [table[name][d] for d in datasets]
        print(f"{name:10}" + "".join(f"{v:10.4f}" for v in values) + f"{sum(values) / len(values):10.4f}  "
              f"{json.dumps(CANDIDATES[name])}")  # fmt: skip
    portfolio = greedy_portfolio(table, 3)
    print(f"greedy portfolio: {', '.join(portfolio)}")
    print(json.dumps({"bench": "portfolio", "slice_s": args.slice, "threads": os.cpu_count(), "table": table,
                      "portfolio": portfolio}))  # fmt: skip
    if args.json_out:
        args.json_out.write_text(json.dumps({"table": table, "detail": detail, "portfolio": portfolio}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

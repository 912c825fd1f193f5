"""Benchmark: the platform's default study against a skilled engineer's script and plain Optuna.

On each generated dataset (`bench/synthetic.py`: colour photos as JPEG of varied
sizes, pen drawings as PNG, scanned glyphs), in the same run and one after the other
on the same cores:

(a) platform: the whole platform (web, Celery worker, training service) on free ports
    in a temporary folder; `manage.py run_study --zip ... --timeout BUDGET` with the
    form's defaults.
(b) expert: the script an engineer would write by hand, here in this file: images
    decoded once at 64 px (the data's size when smaller), 4 blocks of two 3x3 conv +
    BN + ReLU with max-pool (32, 64, 128, 256 channels), global average pooling,
    dropout 0.2, AdamW lr 3e-3, weight decay 5e-4, one-cycle schedule, flips and
    reflect-padded random crops on tensors, label smoothing 0.1, batch 64, 12 epochs.
(c) optuna: plain Optuna (TPE + median pruning) over the seed tutorial's three CNNs,
    also in this file, on the same decoded tensors, with the same time budget.

Every arm trains and validates on the same split (each dataset comes with one). Times:
the expert's clock starts before it decodes the images; the platform's when its study
starts (after ingestion, which is reported apart); Optuna's after decoding. For each
arm it prints the best validation accuracy and the seconds until it first reached the
expert's best accuracy, as a table, then one JSON line.

    .venv/bin/python bench/search.py [--budget 300] [--datasets photos,drawings,scans] [--per-class N]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import synthetic  # noqa: E402

from tests.conftest import _claim_redis_db  # noqa: E402
from tests.platform_processes import start_platform  # noqa: E402

VAL_FOLDERS = ("val", "valid", "test")


# --- reading a dataset zip the way a script would ----------------------------------------------


def decode_zip(path: Path, size: int | None = None) -> dict:
    """Decode every image of a train/val zip at `size` (None: 64, or the images' median side if smaller)."""
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        entries = []
        for name in names:
            parts = name.split("/")
            split = "val" if parts[-3] in VAL_FOLDERS else "train"
            entries.append((name, parts[-2], split))
        classes = sorted({c for _, c, _ in entries})
        images = []
        for name, _, _ in entries:
            with Image.open(io.BytesIO(archive.read(name))) as image:
                image = ImageOps.exif_transpose(image)
                if image.mode in ("RGBA", "LA", "P"):
                    rgba = image.convert("RGBA")
                    background = Image.new("RGB", rgba.size, (255, 255, 255))
                    background.paste(rgba, mask=rgba.getchannel("A"))
                    image = background
                images.append(image.convert("RGB"))
    if size is None:
        median = float(np.median([min(im.size) for im in images]))
        size = 64 if median >= 64 else max(16, int(median) // 4 * 4)
    pixels = np.stack([np.asarray(im.resize((size, size), Image.Resampling.BILINEAR)) for im in images])
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
    y = torch.tensor([classes.index(c) for _, c, _ in entries])
    is_val = torch.tensor([s == "val" for _, _, s in entries])
    return {"x": x, "y": y, "train": ~is_val, "val": is_val, "classes": classes, "size": size}


def normalised(data: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Float train/val tensors normalised with the training split's per-channel mean and std."""
    x = data["x"].float() / 255
    mean = x[data["train"]].mean(dim=(0, 2, 3), keepdim=True)
    std = x[data["train"]].std(dim=(0, 2, 3), keepdim=True).clamp(min=1e-3)
    x = (x - mean) / std
    return x[data["train"]], data["y"][data["train"]], x[data["val"]], data["y"][data["val"]]


def flip_and_crop(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Random horizontal flips and reflect-padded random crops of a batch."""
    flip = torch.rand(len(x)) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    i, j = torch.randint(0, 2 * pad + 1, (2,)).tolist()
    return padded[:, :, i : i + x.shape[2], j : j + x.shape[3]]


@torch.inference_mode()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    correct = sum((model(x[i : i + 256]).argmax(1) == y[i : i + 256]).sum().item() for i in range(0, len(x), 256))
    return correct / len(y)


# --- (b) the expert's script --------------------------------------------------------------------


def expert_net(classes: int) -> nn.Module:
    layers: list[nn.Module] = []
    c_in = 3
    for width in (32, 64, 128, 256):
        for c in (c_in, width):
            layers += [nn.Conv2d(c, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        layers.append(nn.MaxPool2d(2))
        c_in = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(256, classes))


def run_expert(zip_path: Path, epochs: int = 12, batch: int = 64, seed: int = 0) -> dict:
    """Train the expert's network; returns its per-epoch (seconds since start, val accuracy)."""
    started = time.monotonic()
    torch.manual_seed(seed)
    data = decode_zip(zip_path)
    x_train, y_train, x_val, y_val = normalised(data)
    model = expert_net(len(data["classes"]))
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
    steps = math.ceil(len(x_train) / batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=epochs * steps)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    pad = max(2, data["size"] // 8)
    curve = []
    for _epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x_train))
        for i in range(0, len(order), batch):
            rows = order[i : i + batch]
            loss = criterion(model(flip_and_crop(x_train[rows], pad)), y_train[rows])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
        curve.append((time.monotonic() - started, accuracy(model, x_val, y_val)))
    return {"curve": curve, "size": data["size"]}


# --- (c) plain Optuna over the seed tutorial's networks ----------------------------------------


class SimpleCNN(nn.Module):
    def __init__(self, classes: int, size: int) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 16, 3, padding=1), nn.Linear(16 * (size // 2) ** 2, classes)

    def forward(self, x):
        return self.fc(torch.flatten(F.max_pool2d(F.relu(self.conv(x)), 2), 1))


def lite_cnn(classes: int, size: int) -> nn.Module:
    blocks: list[nn.Module] = []
    for c_in, c_out in ((3, 32), (32, 64), (64, 128)):
        blocks += [nn.Conv2d(c_in, c_out, 5, padding=2), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Dropout(0.5), nn.Linear(2048, 2048),
                         nn.ReLU(), nn.Dropout(0.5), nn.Linear(2048, classes))  # fmt: skip


def cifar_net(classes: int, size: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1),
                         nn.ReLU(), nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(8), nn.Flatten(), nn.Linear(4096, 256),
                         nn.ReLU(), nn.Linear(256, classes))  # fmt: skip


SEED_NETS = {"simple_cnn": SimpleCNN, "lite_cnn": lite_cnn, "cifar_net": cifar_net}


def run_optuna(zip_path: Path, budget: float, seed: int = 0) -> dict:
    """TPE + median pruning over the seed networks, lr, optimiser, batch and epochs, within `budget` seconds."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = decode_zip(zip_path)
    x_train, y_train, x_val, y_val = normalised(data)
    classes, size = len(data["classes"]), data["size"]
    started = time.monotonic()
    curve: list[tuple[float, float]] = []

    def objective(trial: optuna.Trial) -> float:
        torch.manual_seed(seed + trial.number)
        model = SEED_NETS[trial.suggest_categorical("architecture", list(SEED_NETS))](classes, size)
        lr = trial.suggest_float("lr", 1e-4, 1e-2, log=True)
        if trial.suggest_categorical("optimizer", ["adam", "sgd"]) == "adam":
            optimiser = torch.optim.Adam(model.parameters(), lr=lr)
        else:
            optimiser = torch.optim.SGD(model.parameters(), lr=lr * 10, momentum=0.9)
        batch = trial.suggest_categorical("batch_size", [32, 64, 128])
        epochs = trial.suggest_int("epochs", 3, 12)
        best = 0.0
        for epoch in range(epochs):
            model.train()
            order = torch.randperm(len(x_train))
            for i in range(0, len(order), batch):
                rows = order[i : i + batch]
                x = torch.where((torch.rand(len(rows)) < 0.5).view(-1, 1, 1, 1), x_train[rows].flip(3), x_train[rows])
                loss = F.cross_entropy(model(x), y_train[rows])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
            acc = accuracy(model, x_val, y_val)
            curve.append((time.monotonic() - started, acc))
            best = max(best, acc)
            trial.report(acc, epoch)
            if trial.should_prune() or time.monotonic() - started > budget:
                raise optuna.TrialPruned()
        return best

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed),
                                pruner=optuna.pruners.MedianPruner())  # fmt: skip
    study.optimize(objective, timeout=budget)
    return {"curve": curve, "trials": len(study.trials)}


# --- (a) the platform ---------------------------------------------------------------------------

PLATFORM_QUERY = """
import json
from platform_web.studies.models import EpochMetric, Study
study = Study.objects.order_by("-created_at").first()
dataset = study.dataset
curve = [((m.created_at - study.started_at).total_seconds(), m.val_accuracy)
         for m in EpochMetric.objects.filter(trial__study=study).order_by("created_at") if m.val_accuracy is not None]
best = study.best_trial
print(json.dumps({
    "state": study.state, "curve": curve,
    "ingest_s": (dataset.ready_at - dataset.created_at).total_seconds() if getattr(dataset, "ready_at", None) else None,
    "study_s": (study.finished_at - study.started_at).total_seconds() if study.finished_at else None,
    "best": best.value if best else None, "best_trial": best.number if best else None,
    "best_params": best.params if best else None,
    "trials": {s: study.trials.filter(state=s).count()
               for s in ("completed", "pruned", "diverged", "failed", "skipped", "cancelled")},
    "trial_rows": [{"number": t.number, "state": t.state, "params": t.params, "value": t.value,
                    "epochs": t.epochs_done, "train_s": t.train_seconds, "probe_epoch_s": t.estimated_epoch_seconds,
                    "real_epoch_s": t.train_seconds / t.epochs_done if t.train_seconds and t.epochs_done else None,
                    "started_s": (t.started_at - study.started_at).total_seconds(), "error": t.error[:200]}
                   for t in study.trials.order_by("number")],
}))
"""


def run_platform(zip_path: Path, budget: int, redis_url: str, work: Path) -> dict:
    # The test helper pins every process to one thread (tests share the cores); a study uses them all.
    threads = str(os.cpu_count() or 1)
    platform = start_platform(work / "platform", redis_url, extra_env={"OMP_NUM_THREADS": threads})
    try:
        started = time.monotonic()
        run = platform.manage("run_study", "--zip", str(zip_path), "--timeout", str(budget), timeout=budget + 900)
        wall = time.monotonic() - started
        if run.returncode != 0:
            raise RuntimeError(f"run_study failed:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}")
        result = json.loads(platform.manage("shell", "-c", PLATFORM_QUERY).stdout.strip().splitlines()[-1])
    finally:
        platform.supervisor.stop_all()
    result["wall_s"] = wall
    return result


# --- report -------------------------------------------------------------------------------------


def best_of(curve: list) -> float | None:
    return max((acc for _, acc in curve), default=None)


def seconds_to(curve: list, target: float) -> float | None:
    """Seconds at which the curve first reached `target` (None: never)."""
    return next((round(t, 1) for t, acc in curve if acc >= target - 1e-9), None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=int, default=300, help="time budget of (a) and (c) in seconds")
    parser.add_argument("--datasets", default=",".join(synthetic.MAKERS), help="comma-separated: photos,drawings,scans")
    parser.add_argument("--arms", default="expert,platform,optuna", help="comma-separated arms to run")
    parser.add_argument("--per-class", type=int, help="images per class (default: each dataset's own; a smoke test)")
    parser.add_argument("--json-out", type=Path, help="also write the JSON line to this file")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    arms = args.arms.split(",")

    redis_url = claim = admin = None
    if "platform" in arms:
        claimed = _claim_redis_db()
        if claimed is None:
            raise SystemExit("bench/search.py needs the Redis at 127.0.0.1:6379 (or a free test database on it)")
        redis_url, admin, claim = claimed
    report: dict[str, dict] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
            for name in args.datasets.split(","):
                work = Path(tmp) / name
                work.mkdir()
                zip_path = work / f"{name}.zip"
                sizes = {"per_class": args.per_class} if args.per_class else {}
                count = synthetic.MAKERS[name](zip_path, **sizes)
                print(f"== {name}: {count:,} images, {zip_path.stat().st_size / 1e6:.1f} MB", flush=True)
                row: dict = {"images": count}
                if "expert" in arms:
                    expert = run_expert(zip_path)
                    row["expert"] = best_of(expert["curve"])
                    row["expert_s"] = seconds_to(expert["curve"], row["expert"])
                    row["expert_curve"] = expert["curve"]
                    print(
                        f"   expert: {row['expert']:.4f} after {row['expert_s']} s at {expert['size']} px", flush=True
                    )
                target = row.get("expert")
                if "platform" in arms:
                    platform = run_platform(zip_path, args.budget, redis_url, work)
                    row["platform"] = platform["best"]
                    row["platform_s_to_expert"] = seconds_to(platform["curve"], target) if target else None
                    row["platform_detail"] = {k: platform[k] for k in ("best_trial", "best_params", "trials",
                                                                        "study_s", "wall_s", "curve", "trial_rows")}  # fmt: skip
                    print(f"   platform: {row['platform']} (trial #{platform['best_trial']}), reached the expert's "
                          f"accuracy after {row['platform_s_to_expert']} s; trials {platform['trials']}", flush=True)  # fmt: skip
                if "optuna" in arms:
                    plain = run_optuna(zip_path, args.budget)
                    row["optuna"] = best_of(plain["curve"])
                    row["optuna_s_to_expert"] = seconds_to(plain["curve"], target) if target else None
                    print(f"   optuna: {row['optuna']:.4f} in {plain['trials']} trials", flush=True)
                report[name] = row
    finally:
        if admin is not None:
            admin.delete(claim)

    def cell(value, digits=4):
        return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    print()
    header = f"{'dataset':10} {'platform':>9} {'expert':>8} {'optuna':>8} {'platform s to expert':>21} {'expert s':>9}"
    print(header)
    print("-" * len(header))
    for name, row in report.items():
        print(f"{name:10} {cell(row.get('platform')):>9} {cell(row.get('expert')):>8} {cell(row.get('optuna')):>8} "
              f"{cell(row.get('platform_s_to_expert'), 1):>21} {cell(row.get('expert_s'), 1):>9}")  # fmt: skip
    keys = ("platform", "expert", "optuna", "platform_s_to_expert", "expert_s")
    line = json.dumps({"datasets": {name: {k: row.get(k) for k in keys} for name, row in report.items()},
                       "budget_s": args.budget})  # fmt: skip
    print(line)
    if args.json_out:
        args.json_out.write_text(json.dumps({"summary": json.loads(line), "detail": report}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

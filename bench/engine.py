"""Benchmark of the training engine against two baselines (a script, not a test).

    .venv/bin/python bench/engine.py [--threads N] [--skip-resnet]

On 2,000 generated 32x32 PNG images in 10 classes (manifest layout, temporary folder),
simple_cnn, Adam, batch 64, three epochs, all in one process with one thread count:

  (a) the engine: `run_trial` once the dataset cache exists (its build is timed apart);
      augmentation off so that all arms do the same work (a second row shows it on);
  (b) a hand-written loop over images already decoded into one normalised float tensor
      (and, for information, (b') the same loop in the channels_last layout the engine uses);
  (c) the seed tutorial's pipeline: torchvision ImageFolder decoding every epoch, Resize,
      ToTensor, Normalize, DataLoader (num_workers=0).

Every arm's epoch is training plus a validation pass over the same 20% split. The engine's
per-epoch time includes its checkpoint write. The arms run interleaved for several rounds
and each arm's fastest round is reported (every round is in the JSON), since other
processes sharing the cores only ever add time. Goals: (a)/(b) <= 1.15, (a)/(c) <= 0.33.
It also times resnet18 at 64x64 through the engine and prints peak memory (RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.trainer_api.dataset_builder import make_dataset_dir  # noqa: E402
from trainer_api.engine import TrialConfig, build_model, prepare_dataset, run_trial  # noqa: E402
from trainer_api.engine.manifest import read_manifest  # noqa: E402

GOAL_VS_TENSOR_LOOP = 1.15
GOAL_VS_TUTORIAL = 1 / 3


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def engine_arm(dataset: Path, cache: Path, work: Path, *, architecture: str, size: int, epochs: int, augment: bool,
               threads: int) -> dict:  # fmt: skip
    config = TrialConfig(
        architecture=architecture, input_size=size, batch_size=64, epochs=epochs, optimizer="adam",
        learning_rate=1e-3, augment=augment, diverge_check_epochs=0, seed=0,
    )  # fmt: skip
    started = time.perf_counter()
    result = run_trial(config, dataset, work, cache, device="cpu", num_threads=threads)
    wall = time.perf_counter() - started
    return {
        "per_epoch_s": result.train_seconds / result.epochs_run,
        "per_epoch_train_val_s": statistics.mean(r.seconds for r in result.history),
        "run_trial_wall_s": wall,
        "val_accuracy": result.best_val_accuracy,
        "status": result.status,
    }


def _train_and_validate(model, optimizer, train_batches, val_batches) -> None:
    criterion = nn.CrossEntropyLoss()
    model.train()
    running, correct, seen = 0.0, 0, 0
    for x, y in train_batches:
        optimizer.zero_grad()
        logits = model(x)
        loss = criterion(logits, y)
        loss.backward()
        optimizer.step()
        running += loss.item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        seen += len(y)
    model.eval()
    val_loss, val_correct = 0.0, 0
    with torch.no_grad():
        for x, y in val_batches:
            logits = model(x)
            val_loss += criterion(logits, y).item() * len(y)
            val_correct += (logits.argmax(1) == y).sum().item()


def decoded_tensors(dataset: Path, mean, std):
    """(b)'s input: every image decoded once into one normalised float tensor (outside the timing)."""
    manifest = read_manifest(dataset)
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB").resize((32, 32))) for p in manifest.paths])
    x_all = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div(255).contiguous()
    x_all = (x_all - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    y_all = torch.tensor(manifest.labels)
    train = torch.tensor([s == "train" for s in manifest.splits])
    return x_all[train], y_all[train], x_all[~train], y_all[~train], len(manifest.classes)


def tensor_loop_arm(tensors, epochs: int, *, channels_last: bool = False) -> dict:
    """(b): the loop only indexes the decoded tensor (model and optimiser as the engine's).

    With `channels_last` the tensor and model use the memory layout the engine trains in:
    that variant shows what the engine's own loop costs over the leanest possible loop.
    """
    x_train, y_train, x_val, y_val, num_classes = tensors
    layout = torch.channels_last if channels_last else torch.contiguous_format
    x_train, x_val = x_train.contiguous(memory_format=layout), x_val.contiguous(memory_format=layout)
    torch.manual_seed(0)
    model, _ = build_model("simple_cnn", num_classes, 32)
    model = model.to(memory_format=layout)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        order = torch.randperm(len(y_train))
        train_batches = ((x_train[i], y_train[i]) for i in torch.split(order, 64))
        val_batches = zip(torch.split(x_val, 64), torch.split(y_val, 64), strict=True)
        _train_and_validate(model, optimizer, train_batches, val_batches)
        times.append(time.perf_counter() - started)
    return {"per_epoch_s": statistics.mean(times)}


def tutorial_arm(dataset: Path, mean, std, epochs: int) -> dict:
    """(c): torchvision ImageFolder + Resize + ToTensor + Normalize + DataLoader, decoding every epoch."""
    transform = transforms.Compose(
        [transforms.Resize((32, 32)), transforms.ToTensor(), transforms.Normalize(mean, std)]
    )
    train_set = datasets.ImageFolder(dataset / "files" / "train", transform=transform)
    val_set = datasets.ImageFolder(dataset / "files" / "val", transform=transform)
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=0)
    val_loader = DataLoader(val_set, batch_size=64, shuffle=False, num_workers=0)
    torch.manual_seed(0)
    model, _ = build_model("simple_cnn", len(train_set.classes), 32)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        _train_and_validate(model, optimizer, train_loader, val_loader)
        times.append(time.perf_counter() - started)
    return {"per_epoch_s": statistics.mean(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5, help="repeat every arm; the fastest round is reported")
    parser.add_argument("--resnet-epochs", type=int, default=1)
    parser.add_argument("--skip-resnet", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        dataset = make_dataset_dir(
            tmp / "dataset", classes=10, per_class=args.images // 10, size=32, kind="patterns", val_fraction=0.2
        )
        generate_s = time.perf_counter() - started
        cache = tmp / "cache"
        data = prepare_dataset(dataset, cache, 32)
        row = {"threads": args.threads, "images": args.images, "epochs": args.epochs, "rounds": args.rounds}
        row["generate_s"] = generate_s
        row["cache_build_s"] = data.build_seconds
        tensors = decoded_tensors(dataset, data.mean, data.std)
        rounds: dict[str, list[dict]] = {
            "engine": [], "engine_augment": [], "tensor_loop": [], "tensor_loop_channels_last": [], "tutorial": [],
        }  # fmt: skip
        for number in range(args.rounds):  # interleaved, so that load from other processes hits every arm
            common = {"architecture": "simple_cnn", "size": 32, "epochs": args.epochs, "threads": args.threads}
            rounds["engine"].append(engine_arm(dataset, cache, tmp / f"w-a{number}", augment=False, **common))
            rounds["tensor_loop"].append(tensor_loop_arm(tensors, args.epochs))
            rounds["tensor_loop_channels_last"].append(tensor_loop_arm(tensors, args.epochs, channels_last=True))
            rounds["tutorial"].append(tutorial_arm(dataset, data.mean, data.std, args.epochs))
            rounds["engine_augment"].append(engine_arm(dataset, cache, tmp / f"w-g{number}", augment=True, **common))
        for arm, results in rounds.items():
            # The fastest round: other processes on the same cores only ever add time.
            fastest = min(results, key=lambda r: r["per_epoch_s"])
            row[arm] = {key: value for key, value in fastest.items() if key != "status"}
            row[arm]["rounds_per_epoch_s"] = [round(r["per_epoch_s"], 4) for r in results]
        row["peak_rss_mib_simple_cnn"] = peak_rss_mib()
        if not args.skip_resnet:
            row["resnet18_64_cache_build_s"] = prepare_dataset(dataset, cache, 64).build_seconds
            row["resnet18_64"] = engine_arm(dataset, cache, tmp / "w-r", architecture="resnet18", size=64,
                                            epochs=args.resnet_epochs, augment=True, threads=args.threads)  # fmt: skip
        row["peak_rss_mib"] = peak_rss_mib()
    engine = row["engine"]["per_epoch_s"]
    row["ratio_engine_vs_tensor_loop"] = engine / row["tensor_loop"]["per_epoch_s"]
    row["ratio_engine_vs_tutorial"] = engine / row["tutorial"]["per_epoch_s"]
    row["ratio_engine_vs_tensor_loop_channels_last"] = engine / row["tensor_loop_channels_last"]["per_epoch_s"]
    print_table(row)
    print(json.dumps({"bench": "engine", **row}))


def print_table(row: dict) -> None:
    lines = [
        ("dataset generation (not timed against)", f"{row['generate_s']:.2f} s"),
        ("(a) engine cache build, 32 px (once per dataset+size)", f"{row['cache_build_s']:.2f} s"),
        ("(a) engine per epoch, incl. checkpoint", f"{row['engine']['per_epoch_s']:.3f} s"),
        ("(a) engine per epoch, train+val only", f"{row['engine']['per_epoch_train_val_s']:.3f} s"),
        (
            "(a) engine run_trial wall (all epochs, setup, latency, export)",
            f"{row['engine']['run_trial_wall_s']:.2f} s",
        ),
        ("(a') engine per epoch with augmentation on", f"{row['engine_augment']['per_epoch_s']:.3f} s"),
        ("(b) hand-written loop over a decoded tensor, per epoch", f"{row['tensor_loop']['per_epoch_s']:.3f} s"),
        (
            "(b') the same loop in channels_last (engine's layout)",
            f"{row['tensor_loop_channels_last']['per_epoch_s']:.3f} s",
        ),
        ("(c) tutorial ImageFolder + DataLoader, per epoch", f"{row['tutorial']['per_epoch_s']:.3f} s"),
        ("ratio (a)/(b)  [goal <= 1.15]", f"{row['ratio_engine_vs_tensor_loop']:.3f}"),
        ("ratio (a)/(b') (engine loop overhead, no goal)", f"{row['ratio_engine_vs_tensor_loop_channels_last']:.3f}"),
        ("ratio (a)/(c)  [goal <= 0.33]", f"{row['ratio_engine_vs_tutorial']:.3f}"),
    ]
    if "resnet18_64" in row:
        lines += [
            ("resnet18 64x64 cache build", f"{row['resnet18_64_cache_build_s']:.2f} s"),
            ("resnet18 64x64 engine per epoch (augmentation on)", f"{row['resnet18_64']['per_epoch_s']:.2f} s"),
        ]
    lines += [
        ("peak RSS after the simple_cnn arms", f"{row['peak_rss_mib_simple_cnn']:.0f} MiB"),
        ("peak RSS overall", f"{row['peak_rss_mib']:.0f} MiB"),
    ]
    width = max(len(name) for name, _ in lines)
    print(f"engine benchmark: {row['images']} images 32x32, 10 classes, simple_cnn, batch 64, "
          f"{row['epochs']} epochs, {row['threads']} thread(s); best of {row['rounds']} interleaved rounds")  # fmt: skip
    for name, value in lines:
        print(f"  {name:<{width}}  {value:>10}")
    goals = (
        row["ratio_engine_vs_tensor_loop"] <= GOAL_VS_TENSOR_LOOP,
        row["ratio_engine_vs_tutorial"] <= GOAL_VS_TUTORIAL,
    )
    print(f"  goals met: vs tensor loop {'yes' if goals[0] else 'NO'}, vs tutorial {'yes' if goals[1] else 'NO'}")


if __name__ == "__main__":
    main()

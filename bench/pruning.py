"""Benchmark: the median pruner against Hyperband against no pruning, on the same seeds and budget.

Each arm is the platform's own search loop in one process: its sampler and pruner
(`runner.make_sampler`, `pruning.make_pruner`), its space and portfolio (the form's
defaults for the dataset, with a time budget), its trial sizing (`budget.py`, with the
engine's speed probe) and its pruner reports at fractions of each trial's schedule
(`pruning.schedule_points`), training through the engine's `run_trial`. Only the
pruner differs between arms. It prints, per pruner, the best validation accuracy at
the end (mean over seeds), the trials run, the epochs trained and the seconds spent, as
a table, then one JSON line with each arm's accuracy, epochs and seconds relative to no
pruning.

    .venv/bin/python bench/pruning.py [--trials 20 | --budget 300] [--seeds 0,1] [--dataset scans]

Without a time limit (the default) each study runs `--trials` trials whose epochs the
sampler draws from 3-20: the regime where pruning decides how much compute a study
spends. With `--budget` the studies are time-limited like the platform's default, where
the portfolio and 15 % slices leave only a handful of trials to prune.
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
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_web.settings")

import django  # noqa: E402

django.setup()

import optuna  # noqa: E402
import synthetic  # noqa: E402

from platform_web.studies.space import build_space, default_form_values  # noqa: E402
from platform_web.studies.trial_draw import set_epochs, suggest_config  # noqa: E402
from trainer_api.engine import TrialConfig, architecture_info, measure_speed, run_trial  # noqa: E402
from trainer_api.engine.manifest import read_manifest  # noqa: E402
from worker.studies import budget  # noqa: E402
from worker.studies.pruning import make_pruner, schedule_points  # noqa: E402
from worker.studies.runner import make_sampler  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)


def search(dataset_dir: Path, work: Path, *, pruner: str, seed: int, budget_s: float | None, trials: int,
           size: int) -> dict:  # fmt: skip
    """One study: the platform's loop with `pruner`; best accuracy, trials and epochs.

    With `budget_s` a time-limited study (epochs sized to slices); else `trials` trials
    whose epochs the sampler draws from the range, as a study without a time limit does.
    """
    manifest = read_manifest(dataset_dir)
    n_train = sum(s == "train" for s in manifest.splits)
    n_val = len(manifest.splits) - n_train
    class_counts = {name: {"train": 0, "val": 0} for name in manifest.classes}  # as the Dataset row keeps them
    for label, split in zip(manifest.labels, manifest.splits, strict=True):
        class_counts[manifest.classes[label]][split] += 1
    dataset = SimpleNamespace(name="bench", size_stats={"width": {"median": size}, "height": {"median": size}},
                              train_count=n_train, image_count=len(manifest.splits),
                              class_counts=class_counts)  # fmt: skip
    values = default_form_values(dataset=dataset, device_type="cpu", architectures=architecture_info())
    values["timeout_minutes"] = math.ceil(budget_s / 60) if budget_s else None
    values["n_trials"] = trials
    if not budget_s:
        values["epochs_min"], values["epochs_max"] = 3, 20
    space = build_space(values, architecture_info())
    row = SimpleNamespace(pruner=pruner, n_trials=trials, space=space, seed=seed,
                          sampler="tpe", timeout_seconds=budget_s)  # fmt: skip
    study = optuna.create_study(direction="maximize", sampler=make_sampler(row, 0, 0), pruner=make_pruner(row))
    for entry in space["portfolio"]:
        study.enqueue_trial(entry["params"], user_attrs={"portfolio_share": entry["share"],
                                                         "portfolio_max_epochs": entry.get("max_epochs")})  # fmt: skip
    started = time.monotonic()
    epochs_run = 0
    measured: dict[tuple, float] = {}
    while len(study.trials) < trials:
        trial = study.ask()
        params, config = suggest_config(trial, space, seed=seed + trial.number)
        epochs = config["epochs"]
        if budget_s:
            remaining = budget_s - (time.monotonic() - started)
            key = tuple(config[k] for k in ("architecture", "width", "depth", "input_size", "batch_size"))
            if key not in measured:
                probe = measure_speed(TrialConfig.from_dict(dict(config, epochs=1)), len(manifest.classes), "cpu")
                measured[key] = probe.epoch_seconds(n_train, n_val) * budget.DEFAULT_PROBE_FACTOR
            slice_s = budget.slice_seconds(row, share=trial.user_attrs.get("portfolio_share"), remaining=remaining)
            epochs = budget.fit_epochs(space, slice_s=slice_s, epoch_s=measured[key], overhead_s=2.0,
                                       max_epochs=trial.user_attrs.get("portfolio_max_epochs"),
                                       remaining_s=remaining)  # fmt: skip
            if epochs is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                break
        set_epochs(params, config, space, epochs)
        state = {"previous": 1.0 / len(manifest.classes), "pruned": False, "epochs": 0}

        def on_epoch(report, trial=trial, state=state, epochs=epochs):
            for step, value in schedule_points(report.epoch, epochs, report.val_accuracy, state["previous"]):
                trial.report(value, step)
                if trial.should_prune():  # asked after every step, as the objective does
                    state["pruned"] = True
                    break
            state["previous"], state["epochs"] = report.val_accuracy, report.epoch

        result = run_trial(TrialConfig.from_dict(config), dataset_dir, work / f"{pruner}-{seed}-{trial.number}",
                           work / "cache", device="cpu", on_epoch=on_epoch,
                           should_stop=lambda state=state: state["pruned"])  # fmt: skip
        epochs_run += state["epochs"]
        if state["pruned"] or result.status in ("cancelled", "diverged"):
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, result.best_val_accuracy)
        if budget_s and time.monotonic() - started >= budget_s:
            break
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return {
        "best": max((t.value for t in complete), default=0.0),
        "trials": len([t for t in study.trials if t.state != optuna.trial.TrialState.FAIL]),
        "pruned": len([t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]),
        "epochs": epochs_run,
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, help="a time-limited study of this many seconds (default: --trials)")
    parser.add_argument("--trials", type=int, default=20, help="trials per study without a time limit")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--dataset", default="scans", choices=list(synthetic.MAKERS))
    parser.add_argument("--per-class", type=int, default=60, help="images per class (small: many trials fit)")
    parser.add_argument("--pruners", default="median,hyperband,none")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    pruners = args.pruners.split(",")
    results: dict[str, list[dict]] = {p: [] for p in pruners}
    with tempfile.TemporaryDirectory(prefix="bench-pruning-") as tmp:
        zip_path = Path(tmp) / "data.zip"
        synthetic.MAKERS[args.dataset](zip_path, per_class=args.per_class)
        dataset_dir = synthetic.extract_as_dataset(zip_path, Path(tmp) / "dataset")
        for seed in seeds:
            for pruner in pruners:  # interleaved, so a slower minute of the machine hits every arm alike
                row = search(dataset_dir, Path(tmp) / "work", pruner=pruner, seed=seed, budget_s=args.budget,
                             trials=args.trials, size=32)  # fmt: skip
                results[pruner].append(row)
                print(f"seed {seed} {pruner:10} {json.dumps(row)}", flush=True)

    def mean(pruner: str, key: str) -> float:
        return sum(r[key] for r in results[pruner]) / len(results[pruner])

    print()
    print(f"{'pruner':12}{'best acc':>10}{'trials':>8}{'pruned':>8}{'epochs':>8}{'seconds':>9}")
    for pruner in pruners:
        print(f"{pruner:12}{mean(pruner, 'best'):10.4f}{mean(pruner, 'trials'):8.1f}{mean(pruner, 'pruned'):8.1f}"
              f"{mean(pruner, 'epochs'):8.1f}{mean(pruner, 'seconds'):9.1f}")  # fmt: skip
    base = "none" if "none" in pruners else pruners[0]
    summary = {p: {"best": round(mean(p, "best"), 4), "best_vs_none": round(mean(p, "best") - mean(base, "best"), 4),
                   "epochs_vs_none": round(mean(p, "epochs") / max(1e-9, mean(base, "epochs")), 3),
                   "seconds_vs_none": round(mean(p, "seconds") / max(1e-9, mean(base, "seconds")), 3)}
               for p in pruners}  # fmt: skip
    print(json.dumps({"bench": "pruning", "dataset": args.dataset, "budget_s": args.budget, "trials": args.trials,
                      "seeds": seeds,
                      "arms": summary}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The figures `bench/report.py` reads from each benchmark's JSON line, their goals, and why one is missed.

`GOALS` is the one table: per benchmark, the figure (a ratio against a baseline the same
script measured in the same run wherever the script has one), where its goal comes from
(the script's own docstring or printed goal, the issue, or "stated here" where neither
gives one), and a function that writes the reason from the figures when the goal is
missed. `judge` turns one benchmark's JSON into rows for the report.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

SEARCH_DATASETS = ("photos", "drawings", "scans")
PRUNERS = ("hyperband", "median", "successive_halving")
OPERATORS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq}


@dataclass(frozen=True)
class Goal:
    bench: str
    figure: str  # a short name, unique within the bench
    label: str  # what the number is: "engine epoch / hand-loop epoch"
    value: Callable[[dict], float | None]
    op: str  # one of OPERATORS, or "" for a figure given for information
    target: float | None
    source: str  # where the goal comes from
    why: Callable[[dict], str]  # the reason, from the figures, when the goal is missed
    applies: Callable[[dict], bool] = lambda r: True  # False: this run did not measure the figure


def _f(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _engine_why(r: dict, other: str, name: str) -> str:
    engine = r["engine"]
    overhead = engine["per_epoch_s"] - engine["per_epoch_train_val_s"]
    return (f"the engine's epoch took {engine['per_epoch_s']:.3f} s ({overhead:.3f} s of it outside training and "
            f"validation: checkpoint and bookkeeping) against {r[other]['per_epoch_s']:.3f} s for {name}, "
            f"best of {r['rounds']} rounds of {r['images']} images at {r['threads']} thread(s)")  # fmt: skip


def _search_goals(dataset: str) -> list[Goal]:
    def ran(r: dict, arm: str) -> bool:
        return r.get("datasets", {}).get(dataset, {}).get(arm) is not None

    def ratio(r: dict, other: str) -> float | None:
        row = r["datasets"][dataset]
        return row["platform"] / row[other] if row.get("platform") is not None and row.get(other) else None

    def why(r: dict, other: str) -> str:
        row = r["datasets"][dataset]
        reached = row.get("platform_s_to_expert")
        return (f"on {dataset} the platform's best was {_f(row.get('platform'), 4)} within a {r['budget_s']} s budget "
                f"against {_f(row.get(other), 4)} for the {other} arm"
                + (f"; it reached the expert's accuracy after {reached} s" if reached is not None
                   else "; it never reached the expert's accuracy")
                + f" (the expert trained a fixed 12 epochs in {_f(row.get('expert_s'), 1)} s, outside the budget)")  # fmt: skip

    return [
        Goal("search", f"platform_vs_expert[{dataset}]", f"{dataset}: platform best accuracy / expert script's",
             lambda r: ratio(r, "expert"), ">=", 1.0, "issue 15", lambda r: why(r, "expert"),
             lambda r: ran(r, "platform") and ran(r, "expert")),
        Goal("search", f"platform_vs_optuna[{dataset}]", f"{dataset}: platform best accuracy / plain Optuna's",
             lambda r: ratio(r, "optuna"), ">=", 1.0, "stated here", lambda r: why(r, "optuna"),
             lambda r: ran(r, "platform") and ran(r, "optuna")),
    ]  # fmt: skip


def _pruning_goals(pruner: str) -> list[Goal]:
    def arm(r: dict) -> dict:
        return r["arms"][pruner]

    def why(r: dict) -> str:
        a, none = arm(r), r["arms"]["none"]
        return (f"{pruner}: best accuracy {a['best']:.4f} against {none['best']:.4f} without pruning, "
                f"{a['epochs_vs_none']:.2f}x the epochs and {a['seconds_vs_none']:.2f}x the seconds, "
                f"mean of {len(r['seeds'])} seed(s) of {r['trials']} trials")  # fmt: skip

    def ran(r: dict) -> bool:
        return pruner in r.get("arms", {}) and "none" in r["arms"]

    return [
        Goal("pruning", f"epochs_vs_none[{pruner}]", f"{pruner}: epochs trained / epochs without pruning",
             lambda r: arm(r)["epochs_vs_none"], "<", 1.0, "issue 15 (compute saved)", why, ran),
        Goal("pruning", f"best_vs_none[{pruner}]", f"{pruner}: best accuracy minus no pruning's (points of 1.0)",
             lambda r: arm(r)["best_vs_none"], ">=", 0.0, "issue 15 (equal or better accuracy)", why, ran),
        Goal("pruning", f"seconds_vs_none[{pruner}]", f"{pruner}: seconds / seconds without pruning",
             lambda r: arm(r)["seconds_vs_none"], "", None, "information", why, ran),
    ]  # fmt: skip


def _scale_why(r: dict) -> str:
    one, two = r["one_pair"], r["two_pairs"]
    text = (
        f"one pair ({one['threads_per_trainer']} threads) took {one['study_s']:.1f} s, two pairs "
        f"({two['threads_per_trainer']} thread(s) each) {two['study_s']:.1f} s"
    )
    if one.get("mean_trial_s") and two.get("mean_trial_s"):
        slower = two["mean_trial_s"] / one["mean_trial_s"]
        text += (f"; a trial took {two['mean_trial_s']:.2f} s with {two['threads_per_trainer']} thread(s) against "
                 f"{one['mean_trial_s']:.2f} s with {one['threads_per_trainer']} ({slower:.2f}x), so two at once "
                 f"can at best reach about {slower / 2:.2f}x")  # fmt: skip
    if max(two.get("busiest_per_trainer") or [0]) < 1 or min(two.get("busiest_per_trainer") or [0]) < 1:
        text += f"; not every trainer ran a trial (busiest slots {two.get('busiest_per_trainer')})"
    return text


def _ingest_why(r: dict) -> str:
    return (f"{r['images']:,} images ingested in {r['ingest_seconds']} s ({r['images_per_second']:,} images/s) "
            f"against {r['decode_only_seconds']} s to decode them once in one process; the duplicate comparison "
            f"took {r.get('duplicate_compare_seconds')} s and the fingerprints cost "
            f"{r.get('decode_and_fingerprint_vs_decode_only')}x a bare decode")  # fmt: skip


def _serve_why(r: dict) -> str:
    on, off = r["batching"], r["one_at_a_time"]
    return (f"batching served {on['requests_per_second']:.1f} requests/s ({on['mean_batch']:.1f} images per forward "
            f"pass, p95 {_f(on['p95_ms'], 1)} ms) against {off['requests_per_second']:.1f} one at a time (p95 "
            f"{_f(off['p95_ms'], 1)} ms), {r['clients']} clients on {r['cpus']} CPUs shared with them")  # fmt: skip


def _quantize_why(r: dict) -> str:
    return (f"at batch 64 INT8 took {r['int8_ms_batch64']:.4f} ms/image against {r['float_ms_batch64']:.4f} for float "
            f"({r['latency_threads']} thread(s)); accuracy {r['int8_accuracy']:.4f} against {r['float_accuracy']:.4f} "
            f"({r['accuracy_drop_points']:.2f} points lost, {r['val_images']} validation images)")  # fmt: skip


def _live_why(r: dict) -> str:
    return (f"p95 {r['p95_ms']} ms (p50 {r['p50_ms']}, max {r['max_ms']}) for {r['clients']} clients at "
            f"{r['rate_per_s']:g} events/s; {r['lost']} lost, {r['out_of_order']} out of order, {r['duplicates']} "
            f"duplicated; the web server used {r.get('server_cpu_seconds')} s of CPU in {r['publish_seconds']} s")  # fmt: skip


def _study_why(r: dict) -> str:
    first = r.get("first_completed_s")
    return (("no trial completed" if first is None else f"the first trial completed after {first:.1f} s")
            + f" of a {r['timeout_s']} s study on {r['images']:,} images; best accuracy {_f(r.get('best_accuracy'), 4)}"
            f" against chance {r['chance']:.2f}; trials {r['trials']}")  # fmt: skip


def _imbalance_why(r: dict) -> str:
    on, off = r["default"], r["off"]
    return (f"balanced accuracy {on['balanced_accuracy']:.4f} with the form's weighting ({on['class_weighting']}) "
            f"against {off['balanced_accuracy']:.4f} without, {on['trials']} trial(s) each, ratio {r['ratio']}:1")  # fmt: skip


def _portfolio_value(r: dict) -> float | None:
    table = r["table"]
    pick = r["portfolio"][0]
    means = {name: sum(row.values()) / len(row) for name, row in table.items() if row}
    return means[pick] / (sum(means.values()) / len(means)) if means else None


GOALS: tuple[Goal, ...] = (
    Goal("engine", "engine_vs_tensor_loop", "engine epoch time / hand-written loop over a decoded tensor",
         lambda r: r["ratio_engine_vs_tensor_loop"], "<=", 1.15, "bench/engine.py",
         lambda r: _engine_why(r, "tensor_loop", "the hand-written loop")),
    Goal("engine", "engine_vs_tutorial", "engine epoch time / seed tutorial's ImageFolder + DataLoader",
         lambda r: r["ratio_engine_vs_tutorial"], "<=", 0.33, "bench/engine.py",
         lambda r: _engine_why(r, "tutorial", "the tutorial pipeline")),
    Goal("ingest", "ingest_vs_decode_only", "ingestion time / decoding every image once in one process",
         lambda r: r["ingest_vs_decode_only"], "<=", 3.0,
         "stated here: ingestion decodes, checks, fingerprints and writes each image in two processes", _ingest_why,
         lambda r: r.get("ingest_vs_decode_only") is not None),
    Goal("ingest", "ingest_vs_goal_time", "ingestion time / 30 s per 20,000 images",
         lambda r: r["ingest_seconds"] / (30 * r["images"] / 20_000), "<=", 1.0, "bench/ingest.py (issue 2)",
         _ingest_why),
    Goal("ingest", "upload_rss_growth_mb", "web process RSS growth during the upload, MB (no in-run baseline)",
         lambda r: r["web_rss_peak_growth_mb"], "<", 100, "bench/ingest.py (issue 2)",
         lambda r: f"the web process grew by {r['web_rss_peak_growth_mb']} MB while {r['zip_mb']} MB were uploaded "
                   f"in {r['upload_seconds']} s"),
    Goal("live", "p95_vs_goal", "publish-to-receive p95 latency / 250 ms (no in-run baseline)",
         lambda r: r["p95_ms"] / r["p95_goal_ms"] if r.get("p95_ms") is not None else None, "<", 1.0,
         "bench/live.py", _live_why),
    Goal("live", "events_lost_or_misordered", "events lost + out of order + duplicated",
         lambda r: r["lost"] + r["out_of_order"] + r["duplicates"], "==", 0, "bench/live.py", _live_why),
    Goal("study", "first_trial_vs_goal", "seconds to the first completed trial / 120 s (no in-run baseline)",
         lambda r: r["first_completed_s"] / 120 if r.get("first_completed_s") is not None else None, "<", 1.0,
         "bench/study.py", _study_why),
    Goal("study", "best_vs_chance", "best validation accuracy / chance", lambda r: r["best_vs_chance"], ">=", 2.0,
         "stated here", _study_why),
    *(goal for dataset in SEARCH_DATASETS for goal in _search_goals(dataset)),
    Goal("scale", "two_vs_one_pair_time", "study time with two worker + trainer pairs / with one",
         lambda r: r["ratio_two_vs_one"], "<=", 0.65, "bench/scale.py (issue 15)", _scale_why),
    *(goal for pruner in PRUNERS for goal in _pruning_goals(pruner)),
    Goal("imbalance", "balanced_accuracy_vs_off", "balanced accuracy with the form's class weighting / without",
         lambda r: r["default"]["balanced_accuracy"] / max(r["off"]["balanced_accuracy"], 1e-9), ">=", 1.0,
         "stated here", _imbalance_why),
    Goal("quantize", "int8_speedup_batch64", "float ONNX ms/image / INT8 ms/image at batch 64",
         lambda r: r["speedup_batch64"], ">=", 1.5, "bench/quantize.py (issue 14)", _quantize_why),
    Goal("quantize", "int8_accuracy_drop", "validation accuracy points lost by INT8",
         lambda r: r["accuracy_drop_points"], "<=", 1.0, "bench/quantize.py (issue 14)", _quantize_why),
    Goal("serve", "batching_throughput", "requests/s with dynamic batching / one image at a time",
         lambda r: r["throughput_ratio"], ">=", 3.0, "bench/serve.py (issue 14)", _serve_why),
    Goal("serve", "batching_p95", "p95 latency with batching / one image at a time",
         lambda r: r["batching"]["p95_ms"] / r["one_at_a_time"]["p95_ms"]
         if r["batching"].get("p95_ms") and r["one_at_a_time"].get("p95_ms") else None,
         "<=", 1.0, "bench/serve.py (issue 14)", _serve_why),
    Goal("portfolio", "first_pick_vs_mean", "the greedy first pick's mean accuracy / all candidates' mean",
         _portfolio_value, "", None, "information", lambda r: ""),
)  # fmt: skip


def load_sentence(load: dict | None) -> str:
    """What the machine's load was while the bench ran, when it was above the core count."""
    if not load or load.get("mean") is None or load["mean"] <= load["cores"]:
        return ""
    return (
        f"the 1-minute load average was {load['mean']:.1f} on average (max {load['max']:.1f}) on "
        f"{load['cores']} cores while it ran (the benchmark's own processes included): more runnable work than "
        "cores, so some of it waited for a CPU"
    )


def judge(bench: str, result: dict, load: dict | None = None) -> list[dict]:
    """The report's rows for one benchmark's JSON: value, goal, met (None: information) and why when missed."""
    rows = []
    for goal in GOALS:
        if goal.bench != bench:
            continue
        try:
            if not goal.applies(result):
                continue
            value = goal.value(result)
        except (KeyError, TypeError, ZeroDivisionError, IndexError) as e:
            value, error = None, f"the JSON line lacks what this figure needs ({type(e).__name__}: {e})"
        else:
            error = ""
        met = None if not goal.op else value is not None and OPERATORS[goal.op](value, goal.target)
        why = ""
        if met is False:
            try:
                why = error or goal.why(result)
            except (KeyError, TypeError, ZeroDivisionError, IndexError, ValueError) as e:
                why = f"(the reason could not be computed: {type(e).__name__}: {e})"
            extra = load_sentence(load)
            why = f"{why}; {extra}" if extra else why
        rows.append({"figure": goal.figure, "label": goal.label, "value": value,
                     "goal": f"{goal.op} {goal.target:g}" if goal.op else "information", "source": goal.source,
                     "met": met, "why": why})  # fmt: skip
    return rows

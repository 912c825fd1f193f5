"""`bench/report.py`, the runner behind `make bench`: fake benchmarks, no real runs.

The runner is given scripts of one line (a JSON result, a crash, a hang) through its
`benches` argument; the goals are judged on made-up JSON results.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


report = _load("report")
goals = _load("report_goals")

ENGINE_RESULT = {
    "bench": "engine", "threads": 2, "images": 1000, "epochs": 2, "rounds": 3,
    "engine": {"per_epoch_s": 0.52, "per_epoch_train_val_s": 0.47},
    "tensor_loop": {"per_epoch_s": 0.40}, "tutorial": {"per_epoch_s": 2.00},
    "ratio_engine_vs_tensor_loop": 1.30, "ratio_engine_vs_tutorial": 0.26,
}  # fmt: skip


def printing(script: str) -> list[str]:
    return [sys.executable, "-c", script]


def fake_bench(name: str, script: str, timeout_s: float = 60) -> report.Bench:
    command = printing(script)
    return report.Bench(name, command, command, estimate_s=1, timeout_s=timeout_s)


def quiet(*args, **kwargs) -> None:
    pass


def test_engine_figures_are_judged_against_the_scripts_goals_with_a_reason_from_the_figures():
    rows = {r["figure"]: r for r in goals.judge("engine", ENGINE_RESULT)}
    loop, tutorial = rows["engine_vs_tensor_loop"], rows["engine_vs_tutorial"]
    assert (loop["value"], loop["goal"], loop["met"]) == (1.30, "<= 1.15", False)
    assert "0.520 s" in loop["why"] and "0.400 s" in loop["why"] and "0.050 s" in loop["why"]
    assert (tutorial["met"], tutorial["why"]) == (True, "")


def test_a_missed_goal_names_the_load_when_other_work_shared_the_cores():
    busy = goals.judge("engine", ENGINE_RESULT, {"mean": 5.2, "max": 7.0, "cores": 2})
    assert "load average was 5.2 on average (max 7.0) on 2 cores" in busy[0]["why"]
    idle = goals.judge("engine", ENGINE_RESULT, {"mean": 1.1, "max": 1.9, "cores": 2})
    assert "load" not in idle[0]["why"]


def test_scale_reason_says_how_much_slower_a_trial_is_with_half_the_threads():
    result = {"ratio_two_vs_one": 0.8,
              "one_pair": {"threads_per_trainer": 2, "study_s": 100.0, "mean_trial_s": 12.0},
              "two_pairs": {"threads_per_trainer": 1, "study_s": 80.0, "mean_trial_s": 19.2,
                            "busiest_per_trainer": [1, 1]}}  # fmt: skip
    (row,) = goals.judge("scale", result)
    assert (row["met"], row["goal"]) == (False, "<= 0.65")
    assert "1.60x" in row["why"] and "about 0.80x" in row["why"] and "100.0 s" in row["why"]


def test_pruning_needs_compute_saved_at_equal_or_better_accuracy():
    result = {"trials": 8, "seeds": [0], "arms": {
        "hyperband": {"best": 0.70, "best_vs_none": -0.02, "epochs_vs_none": 0.6, "seconds_vs_none": 0.7},
        "none": {"best": 0.72, "best_vs_none": 0.0, "epochs_vs_none": 1.0, "seconds_vs_none": 1.0}}}  # fmt: skip
    rows = {r["figure"]: r for r in goals.judge("pruning", result)}
    assert rows["epochs_vs_none[hyperband]"]["met"] is True
    assert rows["best_vs_none[hyperband]"]["met"] is False
    assert "0.7000 against 0.7200" in rows["best_vs_none[hyperband]"]["why"]
    assert rows["seconds_vs_none[hyperband]"]["met"] is None  # information
    assert not any("median" in name for name in rows)  # an arm the run did not have is left out


def test_a_figure_whose_number_is_missing_is_missed_and_says_so():
    (loop, _) = goals.judge("engine", {"ratio_engine_vs_tutorial": 0.2})
    assert loop["value"] is None and loop["met"] is False and "lacks" in loop["why"]


def test_the_runner_writes_markdown_and_json_and_exits_1_when_a_bench_crashes(tmp_path):
    line = json.dumps(ENGINE_RESULT)
    benches = (
        fake_bench("engine", f"print('a table'); print({line!r}); print('after')"),
        fake_bench(
            "broken", "import sys; print('half a table'); sys.stderr.write('Traceback: boom here'); sys.exit(3)"
        ),
    )
    assert report.main(["--out", str(tmp_path)], benches=benches) == 1

    data = json.loads((tmp_path / "report.json").read_text())
    machine = data["machine"]
    assert machine["cores"] >= 1 and machine["memory_gib"] > 0 and machine["cpu"] and machine["torch"]
    assert re.match(r"[0-9a-f]{40}", machine["git_commit"]) and machine["date"][:2] == "20" and "gpu" in machine
    engine, broken = data["benches"]
    assert engine["status"] == "ok" and engine["result"] == ENGINE_RESULT and engine["exit_code"] == 0
    assert engine["command"][1:3] == ["-c", f"print('a table'); print({line!r}); print('after')"]
    assert [f["met"] for f in engine["figures"]] == [False, True]
    assert broken["status"] == "failed" and broken["exit_code"] == 3 and "boom here" in broken["stderr_tail"]
    assert data["summary"] == {"benches": 2, "failed": ["broken"], "goals_met": 1, "goals_missed": 1,
                               "information": 0}  # fmt: skip

    md = (tmp_path / "report.md").read_text()
    assert "## Machine" in md and machine["cpu"] in md and machine["git_commit"] in md
    assert "| engine | engine epoch time / hand-written loop over a decoded tensor | 1.3 | <= 1.15 | **MISSED** |" in md
    assert "the engine's epoch took 0.520 s" in md
    assert "| broken | - | - | - | **FAILED** | exited 3 without a JSON line |" in md
    assert "Traceback: boom here" in md
    assert (tmp_path / "logs" / "engine.log").read_text().startswith("a table")


def test_all_benches_ok_exit_0_and_only_runs_the_named_ones(tmp_path):
    benches = (fake_bench("engine", f"print({json.dumps(ENGINE_RESULT)!r})"),
               fake_bench("broken", "raise SystemExit(3)"))  # fmt: skip
    assert report.main(["--out", str(tmp_path), "--only", "engine"], benches=benches) == 0
    assert [b["name"] for b in json.loads((tmp_path / "report.json").read_text())["benches"]] == ["engine"]


def test_a_bench_past_its_time_limit_is_stopped_with_what_it_started_and_reported_failed(tmp_path):
    # The child sleeps in a session of its own, as the platform's processes do.
    script = ("import subprocess, sys, time; child = subprocess.Popen([sys.executable, '-c', 'import time; "
              "time.sleep(60)'], start_new_session=True); print(child.pid, flush=True); time.sleep(60)")  # fmt: skip
    benches = (fake_bench("hang", script, timeout_s=3),)
    code, data = report.run_all(list(benches), tmp_path, say=quiet)
    assert code == 1
    (hang,) = data["benches"]
    assert hang["status"] == "failed" and "time limit of 3 s" in hang["error"] and hang["wall_s"] < 40
    child = int((tmp_path / "logs" / "hang.log").read_text().split()[0])
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE


def test_every_benchmark_script_in_bench_is_run_with_options_it_has():
    libraries = {"synthetic", "report", "report_goals", "report_write"}
    scripts = {p.stem for p in BENCH.glob("*.py")} - libraries
    assert {b.name for b in report.BENCHES} == scripts
    for bench in report.BENCHES:
        source = (BENCH / f"{bench.name}.py").read_text()
        for command in (bench.full, bench.quick):
            assert command[1] == f"bench/{bench.name}.py"
            for option in (arg for arg in command[2:] if arg.startswith("--")):
                assert f'"{option}"' in source, f"bench/{bench.name}.py has no {option}"
    assert sum(b.estimate_s for b in report.BENCHES) < 30 * 60


def test_every_goal_belongs_to_a_benchmark_the_runner_runs():
    names = {b.name for b in report.BENCHES}
    assert {g.bench for g in goals.GOALS} <= names
    figures = [(g.bench, g.figure) for g in goals.GOALS]
    assert len(figures) == len(set(figures))

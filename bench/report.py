"""`make bench`: run every benchmark in bench/ and write one report (Markdown + JSON, with the machine).

    .venv/bin/python bench/report.py [--out var/bench] [--only engine,scale] [--quick] [--list]

Each benchmark runs as its own process (`bench/<name>.py`) with settings that fit about
30 minutes in all on a 2-core CPU machine (`--quick`: a smoke test of a few minutes).
Its output goes to `<out>/logs/<name>.log`; the runner keeps its last JSON line, its wall
time and the load average while it ran, and judges the figures against their goals
(`bench/report_goals.py`). A benchmark that exits without a JSON line, or runs past its
time limit, is reported as failed with the tail of its stderr; the report is written all
the same and the runner then exits 1. Goals missed do not change the exit code: the
report says which and why.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from report_goals import judge  # noqa: E402
from report_write import machine_info, summary, write_report  # noqa: E402


@dataclass(frozen=True)
class Bench:
    name: str
    full: list[str]  # the whole command line, at the settings that fit 30 minutes
    quick: list[str]  # the same, at smoke-test settings
    estimate_s: float  # how long `full` takes on an idle 2-core machine (measured or estimated)
    timeout_s: float = 0  # 0: three times the estimate, at least 10 minutes (a guard against hangs)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def limit(self) -> float:
        return self.timeout_s or max(600.0, 3 * self.estimate_s)


def script(name: str, *args: str) -> list[str]:
    return [sys.executable, f"bench/{name}.py", *args]


BENCHES: tuple[Bench, ...] = (
    Bench("engine", script("engine", "--images", "2000", "--epochs", "3", "--rounds", "3", "--skip-resnet"),
          script("engine", "--images", "200", "--epochs", "1", "--rounds", "1", "--skip-resnet"), 40),
    Bench("ingest", script("ingest", "--images", "20000"), script("ingest", "--images", "500"), 70),
    Bench("live", script("live", "--clients", "50", "--events", "500"),
          script("live", "--clients", "5", "--events", "50"), 20),
    Bench("study", script("study", "--timeout", "120", "--images", "4000"),
          script("study", "--timeout", "30", "--images", "500"), 140),
    Bench("search", script("search", "--datasets", "photos,scans", "--budget", "120"),
          script("search", "--datasets", "scans", "--budget", "60", "--per-class", "20"), 660),
    Bench("scale", script("scale", "--trials", "8"),
          script("scale", "--trials", "2", "--per-class", "20",
                                                            "--epochs", "1"), 120),
    Bench("pruning", script("pruning", "--trials", "8", "--seeds", "0", "--pruners", "hyperband,none",
                            "--per-class", "30"),
          script("pruning", "--trials", "3", "--seeds", "0", "--pruners", "hyperband,none", "--per-class", "10"),
          110),
    Bench("imbalance", script("imbalance", "--trials", "2", "--common", "80"),
          script("imbalance", "--trials", "1", "--common", "20"), 140),
    Bench("quantize", script("quantize", "--per-class", "40", "--epochs", "5"),
          script("quantize", "--per-class", "10", "--epochs", "1"), 25),
    Bench("serve", script("serve", "--seconds", "8"), script("serve", "--seconds", "2", "--clients", "4"), 35),
    Bench("portfolio", script("portfolio", "--datasets", "scans", "--only", "c1,c6", "--slice", "20"),
          script("portfolio", "--datasets", "scans", "--only", "c1", "--slice", "5"), 40),
)  # fmt: skip


def last_json_line(text: str) -> dict | None:
    """The last line of `text` that is a JSON object."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                found = json.loads(line)
            except ValueError:
                continue
            if isinstance(found, dict):
                return found
    return None


def stop_tree(pid: int, grace: float = 30) -> None:
    """Stop a benchmark and every process under it (the platform it started runs in sessions of its own)."""
    try:
        parent = psutil.Process(pid)
        family = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.terminate()
    _, alive = psutil.wait_procs(family, timeout=grace)
    for member in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    psutil.wait_procs(alive, timeout=10)


def clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def watch(process: subprocess.Popen, name: str, limit: float, say, started_all: float | None) -> tuple[bool, list]:
    """Wait for a benchmark, noting progress every minute; (whether it ran past `limit`, load averages seen)."""
    started = time.monotonic()
    loads: list[float] = []
    next_note = started + 60
    while process.poll() is None:
        time.sleep(1)
        loads.append(os.getloadavg()[0])
        now = time.monotonic()
        if now - started > limit:
            stop_tree(process.pid)
            process.wait()
            return True, loads
        if now > next_note:
            total = f", {clock(now - started_all)} in all" if started_all is not None else ""
            say(f"   {name}: still running after {clock(now - started)}{total}", flush=True)
            next_note = now + 60
    return False, loads


def run_bench(bench: Bench, quick: bool, logs: Path, say=print, started_all: float | None = None) -> dict:
    """Run one benchmark to its end (or its time limit); its record for the report."""
    command = bench.quick if quick else bench.full
    limit = bench.limit
    logs.mkdir(parents=True, exist_ok=True)
    log, err = logs / f"{bench.name}.log", logs / f"{bench.name}.stderr.log"
    started = time.monotonic()
    with log.open("w") as out, err.open("w") as errors:
        process = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1", **bench.env),
                                   stdout=out, stderr=errors)  # fmt: skip
        try:
            timed_out, loads = watch(process, bench.name, limit, say, started_all)
        except KeyboardInterrupt:  # Ctrl-C: the benchmark's platform goes too
            stop_tree(process.pid)
            raise
    wall = time.monotonic() - started
    stdout, stderr = log.read_text(errors="replace"), err.read_text(errors="replace")
    result = last_json_line(stdout)
    load = {"mean": round(statistics.mean(loads), 2) if loads else None, "max": max(loads, default=None),
            "cores": len(os.sched_getaffinity(0))}  # fmt: skip
    record = {"name": bench.name, "command": [Path(c).name if c == sys.executable else c for c in command],
              "wall_s": round(wall, 1), "exit_code": process.returncode, "log": str(log), "load": load,
              "result": result, "status": "ok", "error": "", "stderr_tail": ""}  # fmt: skip
    if timed_out or result is None:
        record["status"] = "failed"
        record["error"] = (f"stopped at its time limit of {limit:.0f} s" if timed_out
                           else f"exited {process.returncode} without a JSON line")  # fmt: skip
        record["stderr_tail"] = (stderr or stdout)[-3000:]
    else:
        record["figures"] = judge(bench.name, result, load)
    return record


def run_all(benches: list[Bench], out: Path, quick: bool = False, say=print) -> tuple[int, dict]:
    """Run `benches` one after the other, write the report under `out`; (exit code, report)."""
    machine = machine_info()
    started = time.monotonic()
    records = []
    expected = sum(b.estimate_s * (0.3 if quick else 1) for b in benches)
    say(f"{len(benches)} benchmark(s), about {clock(expected)} expected on an idle 2-core machine; "
        f"logs in {out / 'logs'}", flush=True)  # fmt: skip
    for number, bench in enumerate(benches, 1):
        say(f"[{number}/{len(benches)}] {bench.name} (at {clock(time.monotonic() - started)}; "
            f"about {clock(bench.estimate_s * (0.3 if quick else 1))}, limit {clock(bench.limit)})", flush=True)  # fmt: skip
        record = run_bench(bench, quick, out / "logs", say=say, started_all=started)
        records.append(record)
        figures = record.get("figures", [])
        verdicts = f"{sum(f['met'] is True for f in figures)} met, {sum(f['met'] is False for f in figures)} missed"
        say(f"   {bench.name}: {record['status']} in {clock(record['wall_s'])}"
            + (f" ({verdicts})" if record["status"] == "ok" else f": {record['error']}"), flush=True)  # fmt: skip
    report = {"machine": machine, "quick": quick, "wall_s": round(time.monotonic() - started, 1),
              "benches": records, "summary": summary(records)}  # fmt: skip
    md, js = write_report(out, report)
    say(f"report: {md} and {js} ({clock(report['wall_s'])} in all)", flush=True)
    return (1 if report["summary"]["failed"] else 0), report


def main(argv: list[str] | None = None, benches: tuple[Bench, ...] = BENCHES) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench", help="folder of report.md, report.json")
    parser.add_argument("--only", help="comma-separated benchmark names (default: all)")
    parser.add_argument("--quick", action="store_true", help="very short settings: a smoke test of the whole chain")
    parser.add_argument("--list", action="store_true", help="print each benchmark's command line and stop")
    args = parser.parse_args(argv)
    chosen = list(benches)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(names) - {b.name for b in benches})
        if unknown:
            parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(b.name for b in benches)}")
        chosen = [b for b in benches if b.name in names]
    if args.list:
        for bench in chosen:
            command = bench.quick if args.quick else bench.full
            print(f"{bench.name:10} ~{clock(bench.estimate_s)}  {' '.join(command)}")
        return 0
    code, _ = run_all(chosen, args.out, quick=args.quick)
    return code


if __name__ == "__main__":
    raise SystemExit(main())

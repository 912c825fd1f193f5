"""The machine a report ran on, and the report itself as Markdown and JSON (for `bench/report.py`)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    """HEAD's hash, with "+ uncommitted changes" when the work tree differs from it."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                timeout=10).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit or 'unknown'}{' + uncommitted changes' if dirty else ''}"


def machine_info() -> dict:
    """CPU, cores, memory, Python and torch versions, the GPU torch sees (if any), git commit, date."""
    try:
        import torch  # a heavy import, only when a report is written

        torch_version = torch.__version__
        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        torch_version, gpu = None, None
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "torch": torch_version,
        "gpu": gpu,
        "git_commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _verdict(met) -> str:
    return "information" if met is None else "met" if met else "**MISSED**"


def summary(benches: list[dict]) -> dict:
    figures = [f for b in benches for f in b.get("figures", [])]
    return {
        "benches": len(benches),
        "failed": [b["name"] for b in benches if b["status"] != "ok"],
        "goals_met": sum(f["met"] is True for f in figures),
        "goals_missed": sum(f["met"] is False for f in figures),
        "information": sum(f["met"] is None for f in figures),
    }


def markdown(report: dict) -> str:
    machine, total = report["machine"], report["summary"]
    lines = ["# Benchmark report", ""]
    lines += [f"`make bench` ({'quick smoke-test settings' if report['quick'] else 'the settings that fit 30 minutes'})"
              f", {total['benches']} benchmark(s) in {report['wall_s'] / 60:.1f} min; goals met {total['goals_met']}, "
              f"missed {total['goals_missed']}, information {total['information']}; failed: "
              f"{', '.join(total['failed']) or 'none'}.", ""]  # fmt: skip
    lines += ["## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {key} | {_cell(value)} |" for key, value in machine.items()]
    lines += ["", "## Every figure", ""]
    lines += ["Each figure is a ratio against a baseline the same script measured in the same run, except where its",
              "label says there is none; the goal's source is the script's own stated goal, the issue, or this report",
              "(`bench/report_goals.py`, \"stated here\").", ""]  # fmt: skip
    lines += ["| bench | figure | value | goal | verdict | why (when missed) |", "|---|---|---|---|---|---|"]
    for bench in report["benches"]:
        if bench["status"] != "ok":
            lines.append(f"| {bench['name']} | - | - | - | **FAILED** | {_cell(bench['error'])} |")
        for f in bench.get("figures", []):
            lines.append(f"| {bench['name']} | {_cell(f['label'])} | {_cell(f['value'])} | {f['goal']} | "
                         f"{_verdict(f['met'])} | {_cell(f['why'])} |")  # fmt: skip
    for bench in report["benches"]:
        lines += ["", f"## {bench['name']}", ""]
        lines += [f"- command: `{' '.join(bench['command'])}`",
                  f"- wall time: {bench['wall_s']:.0f} s; exit code {bench['exit_code']}; status {bench['status']}",
                  f"- load average while it ran: mean {_cell(bench['load']['mean'])}, max {_cell(bench['load']['max'])}"
                  f" on {bench['load']['cores']} cores",
                  f"- full output: `{bench['log']}`"]  # fmt: skip
        if bench["status"] != "ok":
            lines += ["", f"Failed: {bench['error']}", "", "```", bench["stderr_tail"].rstrip(), "```"]
        if bench.get("figures"):
            lines += ["", "| figure | value | goal | source | verdict | why |", "|---|---|---|---|---|---|"]
            for f in bench["figures"]:
                lines.append(f"| {_cell(f['label'])} | {_cell(f['value'])} | {f['goal']} | {_cell(f['source'])} | "
                             f"{_verdict(f['met'])} | {_cell(f['why'])} |")  # fmt: skip
        if bench.get("result") is not None:
            lines += ["", "<details><summary>JSON line</summary>", "", "```json",
                      json.dumps(bench["result"])[:4000], "```", "", "</details>"]  # fmt: skip
    return "\n".join(lines) + "\n"


def write_report(out: Path, report: dict) -> tuple[Path, Path]:
    """`report.md` and `report.json` under `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / "report.md", out / "report.json"
    js.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    md.write_text(markdown(report), encoding="utf-8")
    return md, js

"""Benchmark: study throughput with one worker + trainer pair against two, the cores split between them.

A study of `--trials` small trials (a generated dataset, simple_cnn, the same number of
epochs and batch size for every trial, no pruning) runs twice through the whole platform
(web, Celery workers, training service) on a fresh PostgreSQL database (parallel trials
need it) and a claimed Redis database, one arm after the other:

(a) one pair: the platform's own training worker (concurrency 1) and training service,
    whose trials use every core (OMP_NUM_THREADS = `--threads`); parallel_trials 1.
(b) two pairs: the platform again with OMP_NUM_THREADS = threads // 2, plus one more
    worker + training service pair (`tests.platform_processes.start_pair`) with the same
    thread count: the cores split between the pairs; parallel_trials 2.

TRAINER_MAX_TRIALS=1 for every training service. Each arm gets a dataset of its own (so
that neither finds the other's dataset cache) and its time is the study's own record,
started_at to finished_at. It prints a table and one JSON line. Goal (issue 15): (b) in
at most 0.65x the time of (a).

    .venv/bin/python bench/scale.py [--trials 8] [--per-class 80] [--epochs 4] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
import psycopg
import redis
from celery import Celery

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import _claim_redis_db  # noqa: E402
from tests.platform_processes import RunningPlatform, start_pair, start_platform  # noqa: E402
from tests.studies.platform_client import PASSWORD, Session, seed  # noqa: E402

GOAL_TWO_VS_ONE = 0.65
USER = "bench"


class Watcher(threading.Thread):
    """Polls the training services' health and the load average while an arm runs."""

    def __init__(self, trainer_urls: list[str]) -> None:
        super().__init__(daemon=True)
        self.busiest = dict.fromkeys(trainer_urls, 0)
        self.loads: list[float] = []
        self.running = True

    def run(self) -> None:
        while self.running:
            self.loads.append(os.getloadavg()[0])
            for url in self.busiest:
                try:
                    busy = httpx.get(f"{url}/v1/health", timeout=5).json()["slots_busy"]
                except (httpx.HTTPError, KeyError, ValueError):
                    continue
                self.busiest[url] = max(self.busiest[url], busy)
            time.sleep(0.5)

    def stop(self) -> None:
        self.running = False
        self.join()


def wait_for_workers(redis_url: str, prefixes: list[str], timeout: float = 120) -> None:
    """Until a Celery node whose name starts with each prefix answers a ping."""
    app = Celery(broker=redis_url)
    deadline = time.monotonic() + timeout
    while True:
        names = [name for reply in app.control.ping(timeout=1.0) or [] for name in reply]
        if all(any(n.startswith(p) for n in names) for p in prefixes):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"Celery workers {prefixes} did not answer in {timeout:.0f} s (seen: {names})")


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def run_study(platform: RunningPlatform, args, parallel: int, trainer_urls: list[str]) -> dict:
    """Seed a dataset and a study with `parallel` slots; wait for it to end; its figures."""
    dataset = seed(platform, action="dataset", username=USER,
                   options={"classes": args.classes, "per_class": args.per_class, "size": args.size})  # fmt: skip
    space = {"input_sizes": [args.size], "batch_sizes": [args.batch], "epochs_min": args.epochs,
             "epochs_max": args.epochs, "learning_rate_min": 1e-3, "learning_rate_max": 3e-3}  # fmt: skip
    session = Session(platform, USER)
    watcher = Watcher(trainer_urls)
    watcher.start()
    started = time.monotonic()
    study_id = seed(platform, action="study", username=USER, dataset=dataset["id"], n_trials=args.trials,
                    parallel_trials=parallel, pruner="none", space=space)["id"]  # fmt: skip
    try:
        while (study := session.study(study_id))["state"] not in ("completed", "failed", "cancelled"):
            if time.monotonic() - started > args.timeout:
                raise SystemExit(f"the study did not end in {args.timeout} s: {study['state']}")
            time.sleep(0.3)
    finally:
        watcher.stop()
    wall = time.monotonic() - started
    if study["state"] != "completed":
        raise SystemExit(f"the study ended {study['state']}: {study.get('error')}")
    trials = session.trials(study_id)
    spans = [seconds_between(t["started_at"], t["finished_at"]) for t in trials]
    spans = [s for s in spans if s is not None]
    return {
        "parallel_trials": parallel,
        "study_s": round(seconds_between(study["started_at"], study["finished_at"]) or wall, 2),
        "wall_s": round(wall, 2),
        "trials": len(trials),
        "completed": sum(t["state"] == "completed" for t in trials),
        "mean_trial_s": round(statistics.mean(spans), 2) if spans else None,
        "busiest_per_trainer": list(watcher.busiest.values()),
        "load_mean": round(statistics.mean(watcher.loads), 2) if watcher.loads else None,
    }


def run_arm(var_dir: Path, redis_url: str, database_url: str, args, pairs: int) -> dict:
    threads = max(1, args.threads // pairs)
    env = {"DATABASE_URL": database_url, "TRAINER_MAX_TRIALS": "1", "OMP_NUM_THREADS": str(threads)}
    redis.Redis.from_url(redis_url).flushdb()
    platform = start_platform(var_dir, redis_url, extra_env=env, worker_concurrency=1)
    extra = None
    try:
        seed(platform, action="user", username=USER, password=PASSWORD)
        prefixes = [f"worker-{os.getpid()}@"]  # the node names launcher.celery_worker_argv gives
        if pairs == 2:
            extra = start_pair(platform, "second", extra_env={"OMP_NUM_THREADS": str(threads)}, concurrency=1)
            prefixes.append(f"worker-second-{os.getpid()}@")
        wait_for_workers(redis_url, prefixes)
        urls = [platform.trainer_url] + ([extra.trainer_url] if extra else [])
        print(f"  {pairs} pair(s), {threads} thread(s) per trainer: running {args.trials} trials", flush=True)
        row = run_study(platform, args, parallel=pairs, trainer_urls=urls)
    finally:
        if extra:
            extra.stop()
        platform.supervisor.stop_all()
    return {"pairs": pairs, "threads_per_trainer": threads, **row}


def fresh_database(base_url: str) -> tuple[str, str]:
    name = f"bench_scale_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return base_url.rsplit("/", 1)[0] + f"/{name}", name


def drop_database(base_url: str, name: str) -> None:
    with psycopg.connect(base_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--per-class", type=int, default=80)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=4, help="every trial's epochs")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="cores to share")
    parser.add_argument("--timeout", type=int, default=900, help="seconds an arm's study may take")
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL",
                                                                 "postgresql://postgres@127.0.0.1:5432/postgres"))  # fmt: skip
    args = parser.parse_args()
    if args.threads < 2:
        raise SystemExit("bench/scale.py splits the cores between two pairs: it needs --threads 2 or more")
    claimed = _claim_redis_db()
    if claimed is None:
        raise SystemExit("bench/scale.py needs the Redis at 127.0.0.1:6379 (or a free test database on it)")
    redis_url, admin, claim_key = claimed
    try:
        database_url, name = fresh_database(args.postgres_url)
    except psycopg.Error as e:
        admin.delete(claim_key)
        raise SystemExit(f"bench/scale.py needs PostgreSQL at {args.postgres_url}: {e}") from e
    arms = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            for pairs in (1, 2):
                arms[pairs] = run_arm(Path(tmp) / f"arm-{pairs}", redis_url, database_url, args, pairs)
                print(f"  {json.dumps(arms[pairs])}", flush=True)
    finally:
        redis.Redis.from_url(redis_url).flushdb()
        admin.delete(claim_key)
        drop_database(args.postgres_url, name)
    one, two = arms[1], arms[2]
    ratio = two["study_s"] / one["study_s"]
    print()
    print(f"{args.trials} trials: simple_cnn {args.size} px, {args.classes} classes x {args.per_class} images, "
          f"{args.epochs} epochs, batch {args.batch}; {args.threads} cores")  # fmt: skip
    print(f"{'arm':34} {'study s':>8} {'mean trial s':>13} {'busiest slots':>14} {'load':>6}")
    for label, row in ((f"one pair, {one['threads_per_trainer']} threads", one),
                       (f"two pairs, {two['threads_per_trainer']} thread(s) each", two)):  # fmt: skip
        print(f"{label:34} {row['study_s']:8.1f} {row['mean_trial_s'] or 0:13.2f} "
              f"{'/'.join(map(str, row['busiest_per_trainer'])):>14} {row['load_mean'] or 0:6.2f}")  # fmt: skip
    met = ratio <= GOAL_TWO_VS_ONE
    print(f"time ratio two pairs / one pair: {ratio:.3f} (goal <= {GOAL_TWO_VS_ONE}): {'met' if met else 'MISSED'}")
    print(json.dumps({"bench": "scale", "trials": args.trials, "epochs": args.epochs, "threads": args.threads,
                      "images": args.classes * args.per_class, "size": args.size, "one_pair": one, "two_pairs": two,
                      "ratio_two_vs_one": round(ratio, 3), "goal": GOAL_TWO_VS_ONE, "goal_met": met}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

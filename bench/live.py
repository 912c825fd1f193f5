"""bench/live: many browsers watching one study, events published the way the worker publishes them.

Starts the platform's real web server (uvicorn, as `make up` runs it) on a free loopback port (temporary SQLite database,
a claimed Redis database number), signs in one user through a Django session
cookie, connects N WebSocket clients (python `websockets`) to the study, then a
separate process publishes M events through `record_event` (write to the
database, publish to the channel group after commit), each stamped with the
wall-clock time of the call. Every client checks that it receives every event
once, in seq order, and measures publish-to-receive latency.

    .venv/bin/python bench/live.py [--clients 100] [--events 1000] [--rate 50]

Goals: p95 latency under 250 ms; no event lost, duplicated or out of order.
Clients send {"action": "sync"} every 10 s as the study page does. `--rate 0`
publishes as fast as record_event allows: a stress run, where one web
process falls behind and latency grows, but nothing may be lost.
The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psutil
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from platform_web.core.launcher import free_port, web_server_argv  # noqa: E402

REDIS_SERVER = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
P95_GOAL_MS = 250.0
SYNC_EVERY_SECONDS = 10.0  # static/js/study_live.js sends {"action": "sync"} this often


def claim_redis_db() -> tuple[str, str]:
    """A Redis database number no test run or other bench is using (same claim keys as tests/conftest.py)."""
    admin = redis.Redis.from_url(f"{REDIS_SERVER}/0", socket_connect_timeout=2)
    token = uuid.uuid4().hex
    for db in range(1, 16):
        key = f"platform-tests:db:{db}"
        if admin.set(key, token, nx=True, ex=3600):
            redis.Redis.from_url(f"{REDIS_SERVER}/{db}").flushdb()
            return f"{REDIS_SERVER}/{db}", key
    raise SystemExit("every Redis database 1-15 is claimed by a test run; try again later")


def bench_env(var_dir: Path, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": os.environ.get("BENCH_SETTINGS", "platform_web.settings"),
            "VAR_DIR": str(var_dir),
            "DATABASE_URL": f"sqlite:///{var_dir / 'platform.sqlite3'}",
            "MEDIA_ROOT": str(var_dir / "media"),
            "REDIS_URL": redis_url,
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def setup_django() -> None:
    import django

    django.setup()


def create_watched_study() -> tuple[str, str]:
    """A user, a dataset and a running study; returns (study id, session cookie value)."""
    # Imported here, not at the top: Django's models load only after django.setup() has run.
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    from platform_web.datasets.models import Dataset
    from platform_web.studies.models import Study

    user = get_user_model().objects.create_user(username="bench", password="a-long-bench-password")
    dataset = Dataset.objects.create(owner=user, name="bench", status=Dataset.Status.READY, classes=["a", "b"])
    study = Study.objects.create(owner=user, dataset=dataset, name="bench study", state=Study.State.RUNNING,
                                 n_trials=100, optuna_name=f"bench-{uuid.uuid4().hex}")  # fmt: skip
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return str(study.id), session.session_key


def publish(study_id: str, events: int, rate: float) -> None:
    """The worker's side: `events` epoch events through record_event, paced at `rate` per second (0: flat out)."""
    setup_django()
    from platform_web.studies.events import record_event  # only after setup_django()

    start = time.perf_counter()
    for i in range(events):
        if rate > 0:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        payload = {"trial": i // 20, "epoch": i % 20 + 1, "val_accuracy": 0.5, "val_loss": 1.0, "t": time.time()}
        record_event(study_id=study_id, type="epoch", payload=payload)


class Client:
    """One watching browser: checks order and completeness, keeps latencies."""

    def __init__(self) -> None:
        self.last_seq: int | None = None
        self.latencies_ms: list[float] = []
        self.out_of_order = 0
        self.duplicates = 0
        self.ready = asyncio.Event()

    def take(self, message: dict) -> None:
        now = time.time()
        if message["type"] == "snapshot":
            self.last_seq = message["seq"]
            self.ready.set()
            return
        for event in message.get("events", []):
            seq = event["seq"]
            if seq <= self.last_seq:
                self.duplicates += 1
                continue
            if seq != self.last_seq + 1:
                self.out_of_order += 1
            self.last_seq = seq
            self.latencies_ms.append((now - event["payload"]["t"]) * 1000)


async def watch(url: str, origin: str, cookie: str, client: Client, stop: asyncio.Event) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, origin=origin, additional_headers={"Cookie": f"sessionid={cookie}"},
                       compression=None, max_size=None, open_timeout=30) as ws:  # fmt: skip
        next_sync = time.monotonic() + SYNC_EVERY_SECONDS
        while not stop.is_set():
            if time.monotonic() > next_sync:  # as the study page does: picks up a dropped last event
                await ws.send(json.dumps({"action": "sync"}))
                next_sync = time.monotonic() + SYNC_EVERY_SECONDS
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
            except TimeoutError:
                continue
            client.take(json.loads(raw))


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def wait_for_server(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"the web server did not answer at {url} within {timeout:.0f} s")


async def run_clients(args, port: int, study_id: str, cookie: str, env: dict[str, str]) -> dict:
    url = f"ws://127.0.0.1:{port}/ws/studies/{study_id}/"
    origin = f"http://127.0.0.1:{port}"
    clients = [Client() for _ in range(args.clients)]
    stop = asyncio.Event()
    tasks = []
    for client in clients:  # connect a few at a time, as page loads would
        tasks.append(asyncio.create_task(watch(url, origin, cookie, client, stop)))
        await asyncio.sleep(0.005)
    await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in clients)), timeout=60)
    first_seq = clients[0].last_seq
    publisher = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--publish", study_id, "--events", str(args.events), "--rate", str(args.rate), env=env
    )
    started = time.monotonic()
    await publisher.wait()
    publish_seconds = time.monotonic() - started
    target = first_seq + args.events
    deadline = time.monotonic() + args.drain_seconds
    while time.monotonic() < deadline and any(c.last_seq < target for c in clients):
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies = sorted(ms for c in clients for ms in c.latencies_ms)
    received = len(latencies)
    return {
        "bench": "live",
        "clients": args.clients,
        "events": args.events,
        "rate_per_s": args.rate,
        "publish_seconds": round(publish_seconds, 2),
        "deliveries_expected": args.clients * args.events,
        "deliveries": received,
        "lost": args.clients * args.events - received,
        "out_of_order": sum(c.out_of_order for c in clients),
        "duplicates": sum(c.duplicates for c in clients),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(latencies[int(0.95 * (received - 1))], 1) if latencies else None,
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "p95_goal_ms": P95_GOAL_MS,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--events", type=int, default=1000)
    # A busy study (3 parallel trials, sub-second epochs) records 10-20 events a second; 50 is the default load.
    parser.add_argument("--rate", type=float, default=50.0, help="events per second (0: as fast as possible)")
    parser.add_argument("--drain-seconds", type=float, default=30.0)
    parser.add_argument("--publish", metavar="STUDY_ID", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish:
        publish(args.publish, args.events, args.rate)
        return 0

    var_dir = Path(tempfile.mkdtemp(prefix="bench-live-"))
    redis_url, claim_key = claim_redis_db()
    env = bench_env(var_dir, redis_url)
    os.environ.update(env)
    server = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                       capture_output=True, timeout=300)  # fmt: skip
        setup_django()
        study_id, cookie = create_watched_study()
        port = free_port()
        server = subprocess.Popen(web_server_argv(sys.executable, "127.0.0.1", port), cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=open(var_dir / "web.log", "w"))  # fmt: skip
        wait_for_server(f"http://127.0.0.1:{port}/accounts/login/")
        cpu_before = _cpu_seconds(server.pid), _cpu_seconds(os.getpid())
        result = asyncio.run(run_clients(args, port, study_id, cookie, env))
        result["server_cpu_seconds"] = round(_cpu_seconds(server.pid) - cpu_before[0], 1)
        result["clients_cpu_seconds"] = round(_cpu_seconds(os.getpid()) - cpu_before[1], 1)
    finally:
        if server:
            server.terminate()
            server.wait(timeout=20)
        redis.Redis.from_url(redis_url).flushdb()
        redis.Redis.from_url(f"{REDIS_SERVER}/0").delete(claim_key)
        shutil.rmtree(var_dir, ignore_errors=True)

    print(f"{result['clients']} clients x {result['events']} events at {result['rate_per_s']:g}/s "
          f"(published in {result['publish_seconds']} s)")  # fmt: skip
    print(f"publish-to-receive latency: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms "
          f"(goal < {P95_GOAL_MS:g} ms), max {result['max_ms']} ms")  # fmt: skip
    print(
        f"lost {result['lost']}, out of order {result['out_of_order']}, duplicates {result['duplicates']} (goal: none)"
    )
    print(json.dumps(result))
    ok = result["lost"] == 0 and result["out_of_order"] == 0 and result["duplicates"] == 0
    return 0 if ok and result["p95_ms"] is not None and result["p95_ms"] < P95_GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: upload a 20,000-image zip through HTTP and time its ingestion.

    .venv/bin/python bench/ingest.py [--images 20000] [--server platform|uvicorn] [--redis-url URL]

It generates (once, cached under var/bench/) a zip of 64x64 PNGs in 10 classes
with noisy, varied content; starts the web app as `make up` does (or uvicorn,
for comparison) and one Celery worker, on free ports, against a temporary
VAR_DIR and a private redis-server (or the Redis at --redis-url); signs up,
uploads the zip as a browser would (multipart POST streamed from disk) while
sampling the web process's RSS; then polls the dataset's status until it is
ready. It prints the figures and one JSON line.

Goals (issue 2): web RSS growth during the upload under 100 MB; 20,000
images ingested in under 30 s on 2 cores. The baseline measured in the same
run is decoding every image once in this process, straight from the zip.

The duplicate check (issue 13) has two costs, both printed: the fingerprint of
every image, made from the decode ingestion already does (measured here in the
same run as decode + fingerprint against decode alone, in this process), and
the comparison of the fingerprints, timed by the worker and read back from the
dataset's record.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import psutil
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from platform_web.core.launcher import Supervisor, free_port, plan_children, redis_answers, redis_server_binary  # noqa: E402
from trainer_api.engine.images import open_rgb  # noqa: E402
from worker.ingest.fingerprints import fingerprint  # noqa: E402

CLASSES = 10
SIZE = 64
RSS_GOAL_MB = 100
INGEST_GOAL_SECONDS = 30


def generate_zip(path: Path, images: int) -> Path:
    """`images` noisy 64x64 PNGs (about 10 KB each) in CLASSES class folders; cached by file name."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ramp = np.linspace(0.3, 1.0, SIZE)
    partial = path.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
        for n in range(images):
            label = n % CLASSES
            base = rng.integers(40, 255, 3)
            angle = label * np.pi / CLASSES
            gradient = np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None]
            pixels = gradient[:, :, None] * base + rng.normal(0, 14, (SIZE, SIZE, 3))
            out = io.BytesIO()
            Image.fromarray(pixels.clip(0, 255).astype("uint8")).save(out, "PNG")
            zf.writestr(f"bench-{images}/class_{label:02d}/{n:06d}.png", out.getvalue())
    partial.rename(path)
    return path


def decode_baseline(path: Path, with_fingerprint: bool = False) -> float:
    """Seconds to decode every image once in this process, straight from the zip (no unpacking, no checks),
    and with `with_fingerprint` to make each one's duplicate-search fingerprint from that decode too."""
    started = time.perf_counter()
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            with open_rgb(io.BytesIO(zf.read(info))) as image:
                if with_fingerprint:
                    fingerprint(image)
    return time.perf_counter() - started


def duplicate_findings(database: Path) -> dict:
    """The duplicates the worker recorded on the (only) dataset: its comparison time and counts."""
    with sqlite3.connect(database) as connection:
        row = connection.execute("SELECT duplicates FROM datasets_dataset").fetchone()
    return json.loads(row[0]) if row and row[0] else {}


class RssSampler(threading.Thread):
    """Samples a process's resident memory every 20 ms; `peak` is the highest seen."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = self.process.memory_info().rss
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.02)

    def stop(self) -> int:
        self.running = False
        self.join()
        return self.peak


def start_platform(var_dir: Path, redis_url: str, server: str) -> tuple[Supervisor, str, int, str]:
    """Web app and one Celery worker as `make up` runs them; returns the supervisor, base URL, web pid, server name."""
    host = "127.0.0.1"
    port = free_port(host)
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "platform_web.settings",
            "VAR_DIR": str(var_dir),
            "DATABASE_URL": f"sqlite:///{var_dir / 'platform.sqlite3'}",
            "MEDIA_ROOT": str(var_dir / "media"),
            "REDIS_URL": redis_url,
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": "1",
        }
    )
    env.pop("CELERY_BROKER_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                   capture_output=True)  # fmt: skip
    children = {c.name: c for c in plan_children(python=sys.executable, web_port=port, trainer_port=free_port(host),
                                                 inference_port=free_port(host), host=host,
                                                 worker_concurrency=1)}  # fmt: skip
    web = children["web"]
    if server == "uvicorn":
        web.argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "--host",
            host,
            "--port",
            str(port),
            "platform_web.asgi:application",
        ]
    supervisor = Supervisor(var_dir / "logs", env)
    os.chdir(ROOT)
    supervisor.start(children["ingest-worker"])  # the worker that consumes the ingest queue
    supervisor.start(web)
    base = f"http://{host}:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{base}/accounts/login/", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            supervisor.stop_all()
            raise SystemExit(f"the web app did not start; see {var_dir / 'logs'}")
        time.sleep(0.3)
    return supervisor, base, web.process.pid, web.argv[2]  # [python, "-m", <server>, ...]


def sign_up(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=600)
    page = client.get("/accounts/signup/").text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    password = "bench-ingest-password-42"
    response = client.post("/accounts/signup/", data={"csrfmiddlewaretoken": token, "username": "bench",
                                                      "password1": password, "password2": password})  # fmt: skip
    if response.status_code != 302:
        raise SystemExit(f"sign-up failed: HTTP {response.status_code}")
    client.get("/datasets/upload/")  # warm the upload view's imports before the baseline
    return client


def wait_for_worker(redis_url: str, timeout: float = 120) -> None:
    from celery import Celery

    app = Celery(broker=redis_url)
    deadline = time.monotonic() + timeout
    while not app.control.ping(timeout=1.0):
        if time.monotonic() > deadline:
            raise SystemExit("the Celery worker did not answer")


def run(args: argparse.Namespace) -> dict:
    zip_path = generate_zip(ROOT / "var" / "bench" / f"ingest-{args.images}.zip", args.images)
    zip_mb = zip_path.stat().st_size / 1e6
    print(f"zip: {zip_path} ({zip_mb:.1f} MB, {args.images:,} PNG {SIZE}x{SIZE} in {CLASSES} classes)", flush=True)
    baseline = None if args.no_baseline else decode_baseline(zip_path)
    with_fingerprints = None if args.no_baseline else decode_baseline(zip_path, with_fingerprint=True)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        var_dir = Path(tmp)
        redis_process = None
        redis_url = args.redis_url
        if not redis_url:
            port = free_port()
            redis_process = subprocess.Popen([redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
                                              "--save", "", "--appendonly", "no", "--dir", tmp],
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            redis_url = f"redis://127.0.0.1:{port}/0"
            while not redis_answers(redis_url):
                time.sleep(0.1)
        supervisor, base, web_pid, server_name = start_platform(var_dir, redis_url, args.server)
        try:
            wait_for_worker(redis_url)
            client = sign_up(base)
            time.sleep(1)
            rss_before = psutil.Process(web_pid).memory_info().rss
            sampler = RssSampler(web_pid)
            sampler.start()
            started = time.perf_counter()
            with open(zip_path, "rb") as f:
                response = client.post(
                    "/datasets/upload/",
                    data={"name": "bench"},
                    files={"file": (zip_path.name, f, "application/zip")},
                    headers={"X-Requested-With": "XMLHttpRequest", "X-CSRFToken": client.cookies["csrftoken"]},
                )
            uploaded = time.perf_counter()
            peak = sampler.stop()
            if response.status_code != 201:
                raise SystemExit(f"upload refused: HTTP {response.status_code} {response.text[:300]}")
            url = response.json()["url"]
            while True:
                status = client.get(url + "status.json").json()
                if status["status"] in ("ready", "failed"):
                    break
                time.sleep(0.1)
            ingested = time.perf_counter()
            if status["status"] != "ready":
                raise SystemExit(f"ingestion failed: {status['message']}")
            found = duplicate_findings(var_dir / "platform.sqlite3")
        finally:
            supervisor.stop_all()
            if redis_process:
                redis_process.terminate()
                redis_process.wait(10)
    ingest_seconds = ingested - uploaded
    growth_mb = (peak - rss_before) / 1e6
    return {
        "bench": "ingest",
        "server": server_name,
        "images": args.images,
        "zip_mb": round(zip_mb, 1),
        "upload_seconds": round(uploaded - started, 2),
        "web_rss_before_mb": round(rss_before / 1e6, 1),
        "web_rss_peak_growth_mb": round(growth_mb, 1),
        "ingest_seconds": round(ingest_seconds, 2),
        "images_per_second": round(args.images / ingest_seconds, 1),
        "decode_only_seconds": round(baseline, 2) if baseline else None,
        "ingest_vs_decode_only": round(ingest_seconds / baseline, 2) if baseline else None,
        "status_message": status["message"],
        "fingerprint_seconds_in_process": round(with_fingerprints - baseline, 2) if baseline else None,
        "decode_and_fingerprint_vs_decode_only": round(with_fingerprints / baseline, 2) if baseline else None,
        "duplicate_compare_seconds": found.get("seconds"),
        "duplicate_compare_share_of_ingestion": round(found.get("seconds", 0) / ingest_seconds, 3),
        "duplicate_groups": found.get("all", {}).get("groups"),
        "duplicate_search_truncated": found.get("truncated"),
        "rss_goal_met": growth_mb < RSS_GOAL_MB,
        "speed_goal_met": ingest_seconds < INGEST_GOAL_SECONDS * args.images / 20_000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--server", choices=["platform", "uvicorn"], default="platform",
                        help="platform: the web command `make up` runs (daphne); uvicorn: for comparison")  # fmt: skip
    parser.add_argument("--redis-url", default="", help="use this Redis instead of a private redis-server")
    parser.add_argument("--no-baseline", action="store_true", help="skip the in-process decode baseline")
    result = run(parser.parse_args())
    print(f"upload: {result['zip_mb']} MB in {result['upload_seconds']} s; web process RSS grew by "
          f"{result['web_rss_peak_growth_mb']} MB at peak (goal < {RSS_GOAL_MB} MB, server {result['server']})")  # fmt: skip
    print(f"ingestion: {result['images']:,} images in {result['ingest_seconds']} s = {result['images_per_second']:,} "
          f"images/s (goal < {INGEST_GOAL_SECONDS} s for 20,000)")  # fmt: skip
    if result["decode_only_seconds"]:
        print(f"baseline: decoding every image once in one process takes {result['decode_only_seconds']} s; "
              f"ingestion / decode-only = {result['ingest_vs_decode_only']}")  # fmt: skip
    if result["decode_and_fingerprint_vs_decode_only"]:
        print(f"duplicate check, fingerprints: decode + fingerprint / decode-only = "
              f"{result['decode_and_fingerprint_vs_decode_only']} in one process "
              f"(+{result['fingerprint_seconds_in_process']} s of CPU, shared by the ingest processes)")  # fmt: skip
    print(f"duplicate check, comparison: {result['duplicate_compare_seconds']} s in the worker = "
          f"{100 * result['duplicate_compare_share_of_ingestion']:.1f}% of the ingestion time; "
          f"{result['duplicate_groups']} groups of copies found"
          f"{' (search stopped at its pair limit)' if result['duplicate_search_truncated'] else ''}")  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""`manage.py up` as a user runs it, in a folder of its own, with its output read line by line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from platform_web.core.launcher import free_port

ROOT = Path(__file__).resolve().parent.parent


class UpProcess:
    """One `manage.py up` on free ports; `lines` fills as it prints."""

    def __init__(self, var_dir: Path, redis_url: str, web_port: int | None = None, trainer_port: int | None = None,
                 inference_port: int | None = None):  # fmt: skip
        self.web_port = web_port or free_port()
        self.trainer_port = trainer_port or free_port()
        self.inference_port = inference_port or free_port()
        self.env = dict(os.environ, VAR_DIR=str(var_dir), DATABASE_URL=f"sqlite:///{var_dir / 'db.sqlite3'}",
                        MEDIA_ROOT=str(var_dir / "media"), REDIS_URL=redis_url, PYTHONUNBUFFERED="1")  # fmt: skip
        self.env.pop("TRAINER_URL", None)
        self.env.pop("INFERENCE_URL", None)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=self.env, check=True,
                       capture_output=True, timeout=120)  # fmt: skip
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "up", "--port", str(self.web_port), "--trainer-port", str(self.trainer_port),
             "--inference-port", str(self.inference_port)],
            cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float, after: int = 0) -> re.Match:
        """The first printed line from index `after` on that matches `pattern` (a regex)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[after:]:
                if match := re.search(pattern, line):
                    return match
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r} in {timeout:.0f} s:\n{self.output()[-4000:]}")

    def wait_up(self, timeout: float = 180) -> list[str]:
        self.wait_for_line("The platform is up", timeout)
        return list(self.lines)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

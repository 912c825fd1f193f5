"""The supervisor starts a dead child again, with a growing backoff and a log line, and leaves the others alone."""

from __future__ import annotations

import sys
import time

from platform_web.core.launcher import Child, Supervisor

CRASHES = [sys.executable, "-c", "import sys, time; time.sleep(0.2); sys.exit(3)"]
SLEEPS = [sys.executable, "-c", "import time; time.sleep(60)"]


def tend_for(supervisor: Supervisor, seconds: float, said: list[str]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        supervisor.tend(said.append)
        time.sleep(0.02)


def test_a_dying_child_is_started_again_with_a_growing_backoff_and_the_others_go_on(tmp_path):
    supervisor = Supervisor(tmp_path, env={}, backoff=(0.3, 0.6, 1.2), steady_seconds=30)
    crasher, steady = Child("crasher", CRASHES), Child("steady", SLEEPS)
    supervisor.start(crasher)
    supervisor.start(steady)
    steady_pid = steady.process.pid
    said: list[str] = []
    try:
        tend_for(supervisor, 3.2, said)
        deaths = [line for line in said if line.startswith("crasher exited with code 3")]
        starts = [line for line in said if line.startswith("started crasher again")]
        assert [d.split(" in ")[1].split(" s ")[0] for d in deaths[:3]] == ["0.3", "0.6", "1.2"], said
        assert len(starts) >= 2
        assert "crasher.log" in deaths[0]  # the end of its log comes with the death
        assert steady.process.pid == steady_pid and steady.process.poll() is None
        assert not any(line.startswith("steady") or "started steady" in line for line in said)
    finally:
        supervisor.stop_all(grace=2)


def test_a_child_that_ran_steadily_before_dying_starts_again_after_the_shortest_wait(tmp_path):
    supervisor = Supervisor(tmp_path, env={}, backoff=(0.1, 5.0), steady_seconds=0.5)
    child = Child("slow-crasher", [sys.executable, "-c", "import sys, time; time.sleep(0.7); sys.exit(1)"])
    supervisor.start(child)
    said: list[str] = []
    try:
        tend_for(supervisor, 2.4, said)
        waits = [line.split(" in ")[1].split(" s ")[0] for line in said if " exited with code 1" in line]
        assert len(waits) >= 2 and set(waits) == {"0.1"}, said
    finally:
        supervisor.stop_all(grace=2)

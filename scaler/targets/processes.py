"""Local consumer processes as the scale target: what the demo uses when there is no cluster.

Each replica is one `python -m consumer ...` process. Scaling in sends SIGTERM so the consumer can
commit and leave its group (a clean rebalance), and SIGKILL only after a grace period. Processes are
tracked by PID only; nothing is ever signalled by name.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from kafkakit.logs import log_event
from scaler.errors import TargetError

_log = logging.getLogger("scaler.processes")


class ProcessTarget:
    """Starts and stops replicas of a command (default `python -m consumer <consumer_args>`).

    `current_replicas()` counts live processes: one that exited on its own is reaped and logged, so
    the next scaling step starts a replacement, as a ReplicaSet would.
    """

    def __init__(
        self,
        consumer_args: Sequence[str],
        *,
        command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        stop_grace_seconds: float = 15.0,
        log_dir: Path | None = None,
        name: str = "processes/consumer",
    ) -> None:
        self._name = name
        self._argv = [*(command or [sys.executable, "-m", "consumer"]), *consumer_args]
        self._env = dict(env) if env is not None else None
        self._grace = stop_grace_seconds
        self._log_dir = log_dir
        self._processes: list[subprocess.Popen[bytes]] = []
        self._started = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def pids(self) -> list[int]:
        """PIDs of the live replicas, oldest first."""
        self._reap()
        return [process.pid for process in self._processes]

    def current_replicas(self) -> int:
        self._reap()
        return len(self._processes)

    def set_replicas(self, replicas: int) -> None:
        if replicas < 0:
            raise TargetError(f"replica count must be >= 0, got {replicas}", retriable=False)
        self._reap()
        missing = replicas - len(self._processes)
        for _ in range(missing):
            self._start_one()
        if missing < 0:
            # Newest first: the oldest members keep their partitions longest.
            surplus = self._processes[replicas:]
            self._processes = self._processes[:replicas]
            self._stop(surplus)

    def close(self) -> None:
        """Stop every replica (SIGTERM, then SIGKILL after the grace period)."""
        self._reap()
        surplus, self._processes = self._processes, []
        self._stop(surplus)

    def _start_one(self) -> None:
        self._started += 1
        output: IO[bytes] | None = None
        if self._log_dir is not None:
            self._log_dir.mkdir(parents=True, exist_ok=True)
            output = (self._log_dir / f"replica-{self._started}.log").open("ab")
        try:
            process = subprocess.Popen(
                self._argv, env=self._env, stdout=output, stderr=output, stdin=subprocess.DEVNULL
            )
        except OSError as error:
            raise TargetError(f"cannot start {self._argv[0]}: {error}", retriable=False) from None
        finally:
            if output is not None:
                output.close()  # the child holds its own descriptor
        self._processes.append(process)
        log_event(_log, "replica_started", pid=process.pid, replicas=len(self._processes))

    def _stop(self, processes: list[subprocess.Popen[bytes]]) -> None:
        for process in processes:
            _signal(process, signal.SIGTERM)
        deadline = time.monotonic() + self._grace
        for process in processes:
            try:
                code = process.wait(timeout=max(0.0, deadline - time.monotonic()))
                log_event(_log, "replica_stopped", pid=process.pid, exit_code=code)
            except subprocess.TimeoutExpired:
                _signal(process, signal.SIGKILL)
                process.wait()
                log_event(_log, "replica_killed", logging.WARNING, pid=process.pid, grace_seconds=self._grace)

    def _reap(self) -> None:
        alive = []
        for process in self._processes:
            code = process.poll()
            if code is None:
                alive.append(process)
            else:
                log_event(_log, "replica_exited", logging.WARNING, pid=process.pid, exit_code=code)
        self._processes = alive


def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):  # exited between poll() and kill()
            os.kill(process.pid, signum)

"""`python -m lagscale.demo.child_guard MODULE [ARGS...]` runs `python -m MODULE ARGS...` so that it gets
SIGTERM when the process that started it dies, even by SIGKILL or a crash (Linux prctl
PR_SET_PDEATHSIG, which survives exec). The demo starts its consumers through it, so a demo that
dies hard cannot leave consumer processes behind. Elsewhere it simply runs the module.

Linux sends the signal when the *thread* that started the child ends; the demo starts consumers from
its scaling-loop thread, which ends only when the demo stops them anyway.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: python -m lagscale.demo.child_guard MODULE [ARGS...]")
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() == 1:  # the parent already died before prctl took effect
            sys.exit(1)
    os.execv(sys.executable, [sys.executable, "-m", *argv])  # noqa: S606 - argv is ours, no shell


if __name__ == "__main__":
    main(sys.argv[1:])

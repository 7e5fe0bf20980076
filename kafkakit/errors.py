"""Every error lagscale raises on purpose, one base per boundary, each message saying what to change:

* `ConfigError`: settings a person gave (flags, environment variables, YAML, values) cannot be
  used. It lists every `Problem`, each naming its setting.
* `BrokerError`: the Kafka cluster cannot be used as configured, or stopped answering.
* `SetupError`: this machine lacks something a command needs (a free port, matplotlib, java and
  mvn to start a local broker).
(`kafkakit.events.InvalidEventError`, an event that is not valid, is the event schema's own.)

All derive from `LagscaleError`; the command line prints one as a single `error: ...` line and
exits 2 for settings, 1 for the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace


class LagscaleError(Exception):
    """Root of every error lagscale raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One setting that cannot be used.

    `field` names the setting in the words of the code that found it: a KEDA parameter
    (`lagThreshold`), a ScaledObject path (`spec.pollingInterval`), a values key or a flag. The
    command line renames it to what the user wrote (`--lag-threshold`). `message` says what is wrong
    and what to change; other settings it mentions are written `{name}` and listed in `mentions`,
    so a rename reaches them too. `keda` is KEDA's own wording, where KEDA reports the problem.
    """

    field: str
    message: str
    keda: str = ""
    mentions: tuple[str, ...] = ()

    def renamed(self, rename: Callable[[str], str]) -> Problem:
        message = self.message
        for name in self.mentions:
            message = message.replace(f"{{{name}}}", rename(name))
        return replace(self, field=rename(self.field) if self.field else "", message=message, mentions=())

    def __str__(self) -> str:
        text = self.renamed(lambda name: name).message
        return f"{self.field}: {text}" if self.field else text


class ConfigError(LagscaleError, ValueError):
    """Settings that cannot be used: every problem found, each naming its setting."""

    def __init__(self, problems: str | Problem | Iterable[Problem], *, title: str = "") -> None:
        if isinstance(problems, str):
            problems = [Problem("", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        self.title = title
        super().__init__(self._text())

    def _text(self) -> str:
        listed = "; ".join(str(problem) for problem in self.problems)
        return f"{self.title}: {listed}" if self.title else listed

    def renamed(self, rename: Callable[[str], str]) -> ConfigError:
        """The same problems with their settings named as `rename` says (e.g. as flags)."""
        return ConfigError([problem.renamed(rename) for problem in self.problems], title=self.title)

    @property
    def keda_problems(self) -> list[str]:
        """The problems in KEDA's words where KEDA has them (what KEDA itself would report)."""
        return [problem.keda or str(problem) for problem in self.problems]


class BrokerError(LagscaleError):
    """The Kafka cluster cannot be used as configured, or did not answer. `retriable` is False for
    failures that trying again will not fix (authentication, TLS, a missing topic)."""

    def __init__(self, message: str, *, retriable: bool = True) -> None:
        super().__init__(message)
        self.retriable = retriable


class SetupError(LagscaleError):
    """Something to install, free or start first; the message says what, and how."""

"""lagscale's one error of its own: this machine lacks something a command needs (matplotlib for
a plot, java and mvn to start a local broker). Settings problems are kafkakit's ConfigError and
broker problems its BrokerError, as in every other package."""

from __future__ import annotations

from kafkakit.errors import LagscaleError


class SetupError(LagscaleError):
    """Something to install or start first; the message says what, and how."""

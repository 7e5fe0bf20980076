"""Errors raised at the configuration boundary. Each one says what to change."""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it and says how to fix it."""

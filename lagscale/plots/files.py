"""Where a plot or page may be written: checked before a run, so a typo costs nothing."""

from __future__ import annotations

from pathlib import Path

from kafkakit.errors import ConfigError, Problem

# What matplotlib writes that people open: the format follows the file name.
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def check_output_path(path: Path, flag: str) -> None:
    """A file goes into an existing directory: a typo in the path is an error, not a new tree."""
    if path.is_dir():
        raise ConfigError(Problem(flag, f"{str(path)!r} is a directory; give a file name"))
    if not path.parent.is_dir():
        problem = "is not a directory" if path.parent.exists() else "does not exist; create it first"
        raise ConfigError(Problem(flag, f"cannot write {str(path)!r}: {str(path.parent)!r} {problem}"))


def check_plot_path(path: Path, flag: str) -> None:
    """An image file in an existing directory, its format named by the suffix."""
    check_output_path(path, flag)
    if path.suffix.lower() not in PLOT_SUFFIXES:
        message = f"cannot draw {str(path)!r}: name it *.png (or {', '.join(PLOT_SUFFIXES[1:])})"
        raise ConfigError(Problem(flag, message))


def write_failed(path: Path, flag: str, error: OSError) -> ConfigError:
    return ConfigError(Problem(flag, f"cannot write {str(path)!r}: {error.strerror or error}"))

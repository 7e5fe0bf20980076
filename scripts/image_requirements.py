"""Print the pinned pyproject.toml requirement of each named package, for an image's pip install.

    python3 image_requirements.py pyproject.toml confluent-kafka click > requirements.txt

Each image installs only what its app imports. A name that is not a dependency (main or extra) is
an error, so an image never silently installs less than its app needs. Without names, every main
dependency is printed (what scripts/setup puts in the wheelhouse for the wheel test).
"""

from __future__ import annotations

import re
import sys
import tomllib


def pinned(pyproject: str, names: list[str]) -> list[str]:
    with open(pyproject, "rb") as file:
        project = tomllib.load(file)["project"]
    extras = [line for lines in project.get("optional-dependencies", {}).values() for line in lines]
    by_name = {
        re.split(r"[=<>!~ \[;]", line, maxsplit=1)[0].lower(): line
        for line in project["dependencies"] + extras
    }
    if not names:
        return list(project["dependencies"])
    missing = [name for name in names if name.lower() not in by_name]
    if missing:
        raise SystemExit(f"not a dependency in {pyproject}: {', '.join(missing)}")
    return [by_name[name.lower()] for name in names]


if __name__ == "__main__":
    print("\n".join(pinned(sys.argv[1], sys.argv[2:])))

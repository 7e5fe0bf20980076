"""Values for `lagscale render`: load a profile's documented defaults, merge `--values` files and
`--set` overrides onto them, and check types. Cross-field rules live in `lagscale.render.rules`.

Precedence, lowest first: `templates/values.yaml` < `templates/<profile>/values.yaml` (both
shipped in this package) < each
`--values` file (in order) < each `--set` (in order). The Event Hubs connection string falls back
to the environment only when no value set it.
"""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kafkakit import envvars
from kafkakit.errors import ConfigError, Problem
from lagscale.render.rules import check_rules
from scaler.scaledobject_files import read_yaml

PROFILES = ("eventhubs", "kafka")
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

# Keys whose value is a free-form mapping passed through to Kubernetes (checked by the API server).
FREE_FORM_KEYS = frozenset(
    {
        "consumer.resources",
        "producer.resources",
        "scaler.resources",
        "kafka.broker.resources",
        "keda.advanced.horizontalPodAutoscalerConfig.behavior",
    }
)
# Keys that may be null (= "not set": the field is left out of the manifest), and what else they take.
NULLABLE_KEYS = {"keda.idleReplicaCount": "an integer"}
# Keys holding secrets: never echoed in errors, masked on a terminal.
SECRET_KEYS = frozenset(
    {
        "eventhubs.connectionString",
        "kafka.password",
        "oauth.clientSecret",
        "scaler.grpcTls.serverKey",
        "scaler.grpcTls.clientKey",
    }
)


def values_error(problems: Iterable[str]) -> ConfigError:
    """Every problem found in the values, one line each, each starting with its key."""
    listed = [Problem("", problem) for problem in problems]
    return ConfigError(listed, title=f"invalid values ({len(listed)} problem(s))")


@dataclass(frozen=True)
class Override:
    """One `--set key.sub=value`: the dotted key and the raw text after the first `=`."""

    key: str
    text: str

    @classmethod
    def parse(cls, argument: str) -> Override:
        key, sep, text = argument.partition("=")
        if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
            raise values_error(
                [f"--set {argument!r}: expected key.sub=value, e.g. --set keda.lagThreshold=20"]
            )
        return cls(key.strip(), text)


SHARED_VALUES_FILE = TEMPLATES_DIR / "values.yaml"


def values_file(profile: str) -> Path:
    return TEMPLATES_DIR / profile / "values.yaml"


def load_defaults(profile: str) -> dict[str, Any]:
    """The profile's documented defaults: the shared file, then the profile's own on top."""
    if profile not in PROFILES:
        raise values_error([f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}"])
    return deep_merge(_load_mapping(SHARED_VALUES_FILE), _load_mapping(values_file(profile)))


def _load_mapping(path: Path) -> dict[str, Any]:
    try:
        documents = read_yaml(path, f"--values {path}")
    except ConfigError as error:
        raise values_error(str(problem) for problem in error.problems) from None
    if len(documents) > 1 or (documents and not isinstance(documents[0], dict)):
        raise values_error([f"--values {path}: must be one mapping of keys"])
    return documents[0] if documents else {}


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """A new mapping: `overlay` wins; nested mappings are merged key by key, lists are replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def leaf_paths(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"a.b": value}` for every leaf; free-form keys count as one leaf."""
    paths: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and path not in FREE_FORM_KEYS:
            paths.update(leaf_paths(value, f"{path}."))
        else:
            paths[path] = value
    return paths


def _typed(override: Override, defaults_by_path: Mapping[str, Any]) -> Any:
    """YAML-typed, except that string keys keep the raw text (a connection string is not YAML)."""
    if isinstance(defaults_by_path.get(override.key), str):
        return override.text
    if override.text == "":
        return ""
    try:
        return yaml.safe_load(override.text)
    except yaml.YAMLError:
        return override.text


def _nest(dotted: str, value: Any) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    node = tree
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return tree


def merge_values(
    profile: str,
    value_files: Iterable[Path] = (),
    overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Defaults + files + `--set`, type-checked against the defaults; raises ConfigError."""
    defaults = load_defaults(profile)
    defaults_by_path = leaf_paths(defaults)
    merged = defaults
    for path in value_files:
        merged = deep_merge(merged, _load_mapping(Path(path)))
    for argument in overrides:
        override = Override.parse(argument)
        merged = deep_merge(merged, _nest(override.key, _typed(override, defaults_by_path)))
    _fill_from_environment(profile, merged, os.environ if environ is None else environ)
    type_problems = check_types(defaults, merged)
    # Cross-field rules run on the well-typed values (bad ones replaced by their defaults), and any
    # rule problem naming a badly typed key is dropped, so all problems are reported at once.
    bad_keys = {problem.split(":", 1)[0] for problem in type_problems}
    rule_problems = [
        problem
        for problem in check_rules(profile, _with_defaults_for(bad_keys, defaults, merged))
        if not any(key in problem for key in bad_keys)
    ]
    if type_problems or rule_problems:
        raise values_error([*type_problems, *rule_problems])
    return merged


def _with_defaults_for(
    keys: set[str], defaults: Mapping[str, Any], values: Mapping[str, Any]
) -> dict[str, Any]:
    """`values` without unknown keys, and with the default wherever a key in `keys` is badly typed."""
    expected = leaf_paths(defaults)
    fixed: dict[str, Any] = copy.deepcopy(dict(defaults))
    for path, value in leaf_paths(values).items():
        if path in expected:
            fixed = deep_merge(fixed, _nest(path, expected[path] if path in keys else value))
    return fixed


def _fill_from_environment(profile: str, merged: dict[str, Any], environ: Mapping[str, str]) -> None:
    if profile != "eventhubs" or merged.get("eventhubs", {}).get("connectionString"):
        return
    for name in envvars.CONNECTION_STRING:
        if environ.get(name, "").strip():
            merged.setdefault("eventhubs", {})["connectionString"] = environ[name].strip()
            return


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def _same_type(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float)
    for kind in (int, str, list, Mapping):
        if isinstance(default, kind):
            return isinstance(value, kind)
    return default is None


def check_types(defaults: Mapping[str, Any], values: Mapping[str, Any]) -> list[str]:
    """One problem per unknown key (naming the closest valid key) and per wrongly typed value."""
    expected = leaf_paths(defaults)
    problems: list[str] = []
    for path, value in leaf_paths(values).items():
        if path not in expected:
            problems.append(_unknown_key(path, expected))
            continue
        default = expected[path]
        shown = "" if path in SECRET_KEYS else f" ({value!r})"
        if path in NULLABLE_KEYS:
            if value is not None and _type_name(value) != NULLABLE_KEYS[path]:
                wanted = f"{NULLABLE_KEYS[path]} or null"
                problems.append(f"{path}: expected {wanted}, got {_type_name(value)}{shown}")
        elif not _same_type(default, value):
            problems.append(f"{path}: expected {_type_name(default)}, got {_type_name(value)}{shown}")
    return problems


def _unknown_key(path: str, expected: Mapping[str, Any]) -> str:
    sections = {parent for key in expected for parent in _parents(key)}
    if path in sections:
        return f"{path}: expected a mapping of keys, got a single value; set {path}.<key>=... instead"
    candidates = [*expected, *sections]
    nearest = difflib.get_close_matches(path, candidates, n=1, cutoff=0.5)
    if nearest:
        return f"{path}: unknown key; did you mean {nearest[0]}?"
    top = sorted({key.split(".", 1)[0] for key in expected})
    return f"{path}: unknown key; the top-level keys are {', '.join(top)}"


def _parents(path: str) -> list[str]:
    parts = path.split(".")
    return [".".join(parts[:index]) for index in range(1, len(parts))]

"""Render a profile's Kubernetes manifests from the Jinja2 templates in `templates/` (package data,
one template per object), into memory first: nothing is written unless every object rendered and parsed.

Files are numbered in apply order, like the tutorial's `deploy/` (`1-secret.yaml`, ...); only the
parts the values enable get a number, so the numbers have no gaps.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml

from lagscale.render.context import MANAGED_BY, build_context, uses_sasl
from lagscale.render.grpc_tls import rendered_secret_roles, uses_grpc_tls
from lagscale.render.rules import check_rules
from lagscale.render.values import TEMPLATES_DIR, values_error

Values = dict[str, Any]
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"


@dataclass(frozen=True)
class Written:
    """What `write_manifests` did: the files it wrote, and the ones of an earlier render it removed."""

    written: list[Path]
    removed: list[Path]


@dataclass(frozen=True)
class Manifest:
    """One numbered file: its name and its YAML documents."""

    filename: str
    text: str


# One object: a template, or a template and what it alone sees (one template, several objects).
_Object = str | tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class _Part:
    stem: str
    objects: Callable[[Values], Sequence[_Object]]
    enabled: Callable[[str, Values], bool] = lambda profile, values: True


def _templates(*names: str) -> Callable[[Values], Sequence[_Object]]:
    return lambda values: names


def _mode(values: Values) -> str:
    return str(values["scaler"]["mode"])


def _scaler_templates(values: Values) -> tuple[str, ...]:
    if _mode(values) == "standalone":
        return ("scaler-serviceaccount", "scaler-role", "scaler-rolebinding", "scaler-deployment")
    return ("scaler-serviceaccount", "scaler-deployment", "scaler-service")


def _grpc_tls_objects(values: Values) -> list[_Object]:
    """The Secrets lagscale renders (not the ones the values name), then KEDA's TriggerAuthentication."""
    secrets: list[_Object] = [("tls-secret", {"tls_role": role}) for role in rendered_secret_roles(values)]
    return [*secrets, "scaler-trigger-auth"]


# Apply order. The broker and topic first, then credentials, the consumer, what scales it, load.
_PLAN: tuple[_Part, ...] = (
    _Part(
        "kafka",
        _templates("kafka-service-headless", "kafka-service", "kafka-statefulset"),
        lambda profile, values: profile == "kafka" and values["kafka"]["broker"]["enabled"],
    ),
    _Part(
        "topic-job",
        _templates("topic-job"),
        lambda profile, values: profile == "kafka" and values["kafka"]["topic"]["create"],
    ),
    _Part("secret", _templates("secret"), uses_sasl),
    _Part(
        "trigger-auth",
        _templates("trigger-auth"),
        lambda profile, values: uses_sasl(profile, values) and _mode(values) == "keda",
    ),
    _Part("grpc-tls", _grpc_tls_objects, lambda profile, values: uses_grpc_tls(values)),
    _Part("consumer", _templates("consumer-deployment")),
    _Part("scaledobject", _templates("scaledobject"), lambda profile, values: _mode(values) != "standalone"),
    _Part("producer-job", _templates("producer-job"), lambda profile, values: values["producer"]["enabled"]),
    _Part("scaler", _scaler_templates, lambda profile, values: _mode(values) != "keda"),
)
# `N-<part>.yaml`: the names of the files this tool writes (with -o).
_OWN_FILE = re.compile(rf"[0-9]+-(?:{'|'.join(re.escape(part.stem) for part in _PLAN)})\.yaml")


class _IndentedListDumper(yaml.SafeDumper):
    """Indents list items under their key, as the hand-written parts of the templates do."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    """Multi-line text (PEM) as a literal block, line for line as in its file."""
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_IndentedListDumper.add_representer(str, _represent_text)


def _to_yaml(value: Any, indent: int = 0) -> str:
    """A value as block YAML, every line indented by `indent` spaces (for nesting in templates)."""
    text = yaml.dump(
        value, Dumper=_IndentedListDumper, default_flow_style=False, sort_keys=False, width=1000
    ).rstrip("\n")
    text = text.removesuffix("\n...")
    return "\n".join(" " * indent + line for line in text.splitlines())


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - YAML, not HTML; values are quoted with the `q` filter
    )
    environment.filters["q"] = json.dumps  # a JSON string is a valid double-quoted YAML scalar
    environment.filters["toyaml"] = _to_yaml
    return environment


def _render_object(environment: jinja2.Environment, item: _Object, context: dict[str, Any]) -> str:
    name, own = (item, {}) if isinstance(item, str) else item
    text = environment.get_template(f"{name}.yaml.j2").render({**context, **own}).strip() + "\n"
    document = yaml.safe_load(text)
    if not isinstance(document, dict) or not {"apiVersion", "kind", "metadata"} <= document.keys():
        raise RuntimeError(f"template {name}.yaml.j2 did not render one Kubernetes object")
    return text


def render_manifests(profile: str, values: Values, *, masked: bool = False) -> list[Manifest]:
    """Validate the cross-field rules, then render every enabled part; raises ConfigError."""
    problems = check_rules(profile, values)
    if problems:
        raise values_error(problems)
    context = build_context(profile, values, masked=masked)
    environment = _environment()
    manifests: list[Manifest] = []
    for part in _PLAN:
        if not part.enabled(profile, values):
            continue
        documents = [_render_object(environment, item, context) for item in part.objects(values)]
        filename = f"{len(manifests) + 1}-{part.stem}.yaml"
        manifests.append(Manifest(filename, "---\n".join(documents)))
    return manifests


def as_stream(manifests: Sequence[Manifest]) -> str:
    """All objects as one YAML stream, `---` separated, each file headed by a comment."""
    return "".join(f"---\n# {manifest.filename}\n{manifest.text}" for manifest in manifests)


def _written_by_us(path: Path) -> bool:
    """A file of an earlier render: named like one of our parts, and every object in it carries
    our managed-by label. Anything else in the directory is the user's and stays."""
    if not _OWN_FILE.fullmatch(path.name) or not path.is_file():
        return False
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return bool(documents) and all(
        isinstance(d, dict)
        and isinstance(d.get("metadata"), dict)
        and isinstance(d["metadata"].get("labels"), dict)
        and d["metadata"]["labels"].get(MANAGED_BY_LABEL) == MANAGED_BY
        for d in documents
    )


def write_manifests(manifests: Sequence[Manifest], out_dir: Path) -> Written:
    """Write into a temporary directory, then move the files into `out_dir` and remove the files an
    earlier render (with other parts enabled) left there. A failure while writing leaves `out_dir`
    as it was."""
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".render-", dir=out_dir))
    try:
        for manifest in manifests:
            (staging / manifest.filename).write_text(manifest.text, encoding="utf-8")
        written = []
        for manifest in manifests:
            target = out_dir / manifest.filename
            os.replace(staging / manifest.filename, target)
            written.append(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    wanted = {manifest.filename for manifest in manifests}
    removed = []
    for stale in sorted(out_dir.iterdir()):
        if stale.name not in wanted and _written_by_us(stale):
            stale.unlink()
            removed.append(stale)
    return Written(written, removed)

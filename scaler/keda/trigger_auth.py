"""TriggerAuthentication (or ClusterTriggerAuthentication) -> KEDA's authParams, offline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scaler.keda._fields import field_error, mapping, text

AUTH_KINDS = ("TriggerAuthentication", "ClusterTriggerAuthentication")
_OFFLINE_UNSUPPORTED = (
    "hashiCorpVault",
    "azureKeyVault",
    "awsSecretManager",
    "gcpSecretManager",
    "boundServiceAccountToken",
    "filePath",
)


def has_aws_pod_identity(trigger_auth_spec: Mapping[str, Any]) -> bool:
    """True when the TriggerAuthentication uses `podIdentity.provider: aws` (MSK IAM)."""
    spec = _auth_spec(trigger_auth_spec)
    identity = spec.get("podIdentity") or {}
    return isinstance(identity, Mapping) and identity.get("provider") == "aws"


def resolve_auth_params(
    trigger_auth_spec: Mapping[str, Any],
    secrets: Mapping[str, Mapping[str, str]],
    env: Mapping[str, str],
    *,
    config_maps: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, str]:
    """authParams from env[], configMapTargetRef[] and secretTargetRef[] (later ones win).

    Accepts a whole TriggerAuthentication object or just its spec. Secret values must already
    be decoded. A missing Secret key or env var is an error here (KEDA would pass "" on).
    """
    spec = _auth_spec(trigger_auth_spec)
    for source in _OFFLINE_UNSUPPORTED:
        if spec.get(source):
            raise field_error(
                f"TriggerAuthentication spec.{source}",
                "needs a live cluster: use secretTargetRef, configMapTargetRef or env",
            )
    params: dict[str, str] = {}
    for ref in _refs(spec, "env"):
        variable = text(ref.get("name"), "env[].name")
        if variable not in env:
            raise field_error(f"env var {variable}", f"is not set (TriggerAuthentication {ref['parameter']})")
        params[ref["parameter"]] = env[variable]
    for ref in _refs(spec, "configMapTargetRef"):
        params[ref["parameter"]] = _lookup(config_maps or {}, ref, "ConfigMap")
    for ref in _refs(spec, "secretTargetRef"):
        params[ref["parameter"]] = _lookup(secrets, ref, "Secret")
    return params


def _auth_spec(document: Mapping[str, Any]) -> Mapping[str, Any]:
    if "kind" in document and "spec" in document:
        return mapping(document["spec"], "TriggerAuthentication spec")
    return document


def _refs(spec: Mapping[str, Any], field: str) -> list[Mapping[str, Any]]:
    raw = spec.get(field) or []
    if not isinstance(raw, list):
        raise field_error(f"TriggerAuthentication spec.{field}", "must be a list")
    refs = [mapping(item, f"{field}[]") for item in raw]
    for ref in refs:
        text(ref.get("parameter"), f"{field}[].parameter")
    return refs


def _lookup(store: Mapping[str, Mapping[str, str]], ref: Mapping[str, Any], what: str) -> str:
    name = text(ref.get("name"), f"{what} name")
    key = text(ref.get("key"), f"{what} key")
    if name not in store or key not in store[name]:
        raise field_error(f"{what} {name}", f"has no key {key} (needed for {ref['parameter']})")
    return store[name][key]

"""Credentials the external scaler holds itself, because KEDA does not forward them.

KEDA sends an external scaler the trigger `metadata` only, never the TriggerAuthentication
parameters. So the server reads them from files named like those parameters (`sasl`, `username`,
`password`, `ca`, ...), as a mounted Secret lays them out:

* `--auth-dir DIR`: one set for every ScaledObject (read once, at start);
* `--auth-sets DIR`: named sets for a server shared by many teams. `DIR/<namespace>/<name>/` is
  used by the ScaledObjects of <namespace> whose trigger says `authName: <name>`. A ScaledObject can
  use only the sets of its own namespace, as a TriggerAuthentication serves only its own namespace.
  A set is read when a ScaledObject's scaler is built, so after a rotation the new password is used
  from the next rebuild on (after an authentication error, as KEDA re-reads secrets after an error).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kafkakit.errors import ConfigError, Problem
from kafkakit.secrets import register_secret

AUTH_NAME_KEY = "authName"
_SECRET_PARAMS = ("password", "key", "keyPassword", "keytab")
# A Secret's name (a DNS subdomain) or a namespace: nothing that could leave the directory.
_SAFE_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def read_auth_dir(directory: Path, flag: str = "--auth-dir") -> dict[str, str]:
    """TriggerAuthentication parameters from a directory, one file per parameter (a mounted Secret:
    files `username`, `password`, `ca`...). Secrets are registered, so no log line shows them."""
    if not directory.is_dir():
        raise ConfigError(Problem(flag, f"{directory} is not a directory"))
    params = {
        entry.name: entry.read_text().strip()
        for entry in sorted(directory.iterdir())
        if entry.is_file() and not entry.name.startswith(".")  # skip a Secret mount's ..data links
    }
    for name in _SECRET_PARAMS:
        register_secret(params.get(name))
    return params


@dataclass(frozen=True)
class AuthSets:
    """The named credential sets under `root` (`root/<namespace>/<name>/`)."""

    root: Path

    def params(self, namespace: str, name: str) -> dict[str, str]:
        if not (_SAFE_NAME.fullmatch(name) and _SAFE_NAME.fullmatch(namespace)):
            message = f"{name!r} is not a credential set name: use a Secret-like name (a-z, 0-9, '-', '.')"
            raise ConfigError(Problem(AUTH_NAME_KEY, message, keda=f'"{AUTH_NAME_KEY}" {message}'))
        directory = self.root / namespace / name
        if not directory.is_dir():
            message = f"no credential set {name!r} for namespace {namespace!r} on this scaler ({directory})"
            raise ConfigError(Problem(AUTH_NAME_KEY, message, keda=f'"{AUTH_NAME_KEY}" {message}'))
        return read_auth_dir(directory, AUTH_NAME_KEY)

    @staticmethod
    def params_for(
        sets: AuthSets | None, namespace: str, metadata: Mapping[str, str], default: Mapping[str, str]
    ) -> Mapping[str, str]:
        """The parameters a ScaledObject's trigger asks for: its `authName` set, else `default`."""
        name = metadata.get(AUTH_NAME_KEY, "").strip()
        if not name:
            return default
        if sets is None:
            message = f"names credential set {name!r}, but this scaler was started without --auth-sets"
            raise ConfigError(Problem(AUTH_NAME_KEY, message, keda=f'"{AUTH_NAME_KEY}" {message}'))
        return sets.params(namespace, name)

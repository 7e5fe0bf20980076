"""deploy/<profile>/ must be exactly what the templates render with the default values."""

from __future__ import annotations

from pathlib import Path

import pytest

from lagscale.render.manifests import render_manifests
from lagscale.render.values import PROFILES, merge_values

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy"
REGENERATE = "deploy/ is out of date with templates/: run `make render` and commit the result"


@pytest.mark.parametrize("profile", PROFILES)
def test_deploy_matches_rendered_defaults(profile: str) -> None:
    expected = {
        manifest.filename: manifest.text
        for manifest in render_manifests(profile, merge_values(profile, environ={}))
    }
    committed = {
        path.name: path.read_text(encoding="utf-8") for path in (DEPLOY_DIR / profile).glob("*.yaml")
    }
    assert sorted(committed) == sorted(expected), REGENERATE
    for filename, text in expected.items():
        assert committed[filename] == text, f"{profile}/{filename}: {REGENERATE}"


@pytest.mark.parametrize("profile", PROFILES)
def test_deploy_holds_placeholders_not_secrets(profile: str) -> None:
    secret_file = DEPLOY_DIR / profile / "1-secret.yaml"
    if profile == "kafka":
        assert not secret_file.exists()
        return
    assert "<KEY>" in secret_file.read_text(encoding="utf-8")

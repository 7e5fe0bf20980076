# Temporary: reuse the k8s tier's fixtures until they move to a shared plugin.
import importlib.util
import sys
from pathlib import Path

_K8S = Path(__file__).resolve().parents[1] / "k8s"
sys.path.insert(0, str(_K8S))
_spec = importlib.util.spec_from_file_location("k8s_tier_conftest", _K8S / "conftest.py")
assert _spec
assert _spec.loader
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
kube = _module.kube
namespace = _module.namespace

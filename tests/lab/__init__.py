"""The local KEDA lab's own parts (not the product): the pod backer that runs a real process for each
consumer/producer pod on the KWOK node, and the loop recorder that drives a load through the real
KEDA + HPA loop and writes the replica timeline. See docs/keda-loop.md.

Importable as `lab` from tests (tests/ is on pytest's path) and from bench scripts that put
`tests/` on `sys.path`.
"""

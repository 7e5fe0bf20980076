"""KEDA's Kafka scaler, HPA and ScaledObject executor as pure functions and small state machines.

No Kafka or Kubernetes client, no I/O and no clock: callers pass offsets, replica counts and `now`.
"""

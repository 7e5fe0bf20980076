"""KEDA's External Scaler gRPC API answered with the Kafka scaler's exact semantics (and the opt-in
drain-time target): per-ScaledObject scalers, the gRPC service, and the server around it."""

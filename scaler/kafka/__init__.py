"""The scaler's Kafka side: a trigger's connection settings as client config, and a consumer group's
offsets read the way KEDA's kafka scaler reads them (an `OffsetSource` for the loop)."""

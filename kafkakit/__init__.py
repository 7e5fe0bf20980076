"""What the producer, the consumer and the scaler share: connection profiles, the event schema, logging."""

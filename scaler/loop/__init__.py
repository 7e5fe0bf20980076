"""The scaling loop (offsets -> lag -> replicas, KEDA's rhythm or a faster one) and the small Protocols it
drives (offsets, replicas, time), each with an in-memory fake. No Kafka or Kubernetes client here."""

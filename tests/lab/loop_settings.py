"""The load and timings of one run through the real loop, and the values that render the `kafka`
profile for it: addresses, credentials, names and timings, nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lab.lab_env import LabEnv


@dataclass(frozen=True)
class LoopSettings:
    """The load and the timings. Everything else stays at the rendered profile's defaults
    (lagThreshold 10, activationLagThreshold 0, offsetResetPolicy earliest, maxReplicaCount 10)."""

    partitions: int = 4
    events: int = 400
    process_time: float = 0.1
    polling_interval: int = 2
    cooldown_period: int = 20
    # The rendered producer Job (a real `lagscale produce` behind its pod) sends the events at this
    # rate (0 = at once); with producer_job False the loop sends them itself (produce_burst).
    producer_job: bool = False
    producer_rate: int = 0

    def render_values(self, namespace: str, topic: str, group: str, lab: LabEnv) -> dict[str, Any]:
        return {
            "namespace": namespace,
            "topic": topic,
            "consumerGroup": group,
            "producer": {"enabled": self.producer_job, "count": self.events, "rate": self.producer_rate},
            "consumer": {"processTime": self.process_time},
            "kafka": {
                "bootstrapServers": lab.bootstrap_sasl,
                "sasl": "plaintext",
                "username": lab.sasl_username,
                "password": lab.sasl_password,
                "topic": {"create": False, "partitions": self.partitions},
                "broker": {"enabled": False},
            },
            "keda": {"pollingInterval": self.polling_interval, "cooldownPeriod": self.cooldown_period},
        }

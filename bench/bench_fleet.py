"""N Kafka ScaledObjects on the real KEDA operator: KEDA's built-in `kafka` trigger against KEDA +
one lagscale external scaler (`type: external`), on the same objects, broker and polling interval.

For each size N: N topics of 6-12 partitions with records, one consumer group per topic committed
behind the log end (fleet_objects.py), N Deployments on KWOK nodes, then two runs of N
ScaledObjects that differ only in the trigger: (a) `type: kafka`, (b) `type: external` pointing at
one `lagscale serve-grpc` with its default settings. Before each run every Deployment is back at 0
replicas and the operator is restarted, so both start alike. After a warm-up (every ScaledObject
has a metric, then two more polling intervals) the run is measured for --intervals polling
intervals: the operator's RSS (and the external scaler's), their CPU time, the requests the broker
served (its request log, per client id and API key, bench/broker_requests.py), KEDA's own scaler
latency and scale-loop lag, and every ScaledObject's metric as KEDA exports it. The metrics of
both runs must be equal, and a sample must equal `lagscale lag --json` for the same trigger.

    .venv/bin/python bench/bench_fleet.py --sizes 100              # `make bench`
    .venv/bin/python bench/bench_fleet.py --sizes 100,300,1000 --update-docs docs/benchmarks.md

Uses the running broker, control plane and KEDA of scripts/kafka, scripts/k8s and scripts/keda
(with the same LAGSCALE_STATE and port variables), starting those that are not running.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from prometheus_client.parser import text_string_to_metric_families

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests"))  # broker_requests: shared with the tests

import fleet_objects as fleet  # noqa: E402 - bench modules beside this script
from broker_requests import BrokerRequestLog  # noqa: E402 - tests/broker_requests.py
from docs_section import update_docs  # noqa: E402

from scaler.targets.kubernetes import api_client_from_kubeconfig  # noqa: E402

STATE = Path(os.environ.get("LAGSCALE_STATE", "/tmp/lagscale"))
KEDA_METRICS_URL = f"http://127.0.0.1:{os.environ.get('KEDA_METRICS_PORT', '18080')}/metrics"
SAMPLE_CHECKS = 10
MIB = 1024 * 1024


@dataclass
class Run:
    """One approach at one size: what was measured."""

    approach: str
    size: int
    warmup_s: float
    operator_rss: float
    operator_rss_peak: float
    operator_cpu: float
    scaler_rss: float = 0.0
    scaler_rss_peak: float = 0.0
    scaler_cpu: float = 0.0
    requests: dict[str, float] = field(default_factory=dict)
    """Per API key, per polling interval, from the client that reads the offsets."""
    other_requests: float = 0.0
    clients: dict[str, float] = field(default_factory=dict)
    """Requests per client id, per polling interval (the broker's view)."""
    hpa_condition: str = ""
    latency_median: float = 0.0
    latency_max: float = 0.0
    loop_lag_max: float = 0.0
    rounds: float = 0.0
    round_seconds_max: float = 0.0
    round_seconds_total: float = 0.0
    counted_requests: float = 0.0
    sample_age_max: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def total_requests(self) -> float:
        return sum(self.requests.values())


# -- the real parts -------------------------------------------------------------------------------


def script(name: str, verb: str, env: dict[str, str]) -> None:
    command = [REPO_ROOT / "scripts" / name, verb]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"scripts/{name} {verb} failed:\n{result.stderr[-3000:]}")


def env_value(path: Path, key: str) -> str:
    for line in path.read_text().splitlines():
        if line.startswith(f"{key}="):
            return line.split("=", 1)[1].strip("'")
    raise SystemExit(f"{path} has no {key}: restart the service that writes it")


def keda_pid() -> int:
    return int((STATE / "keda" / "keda.pid").read_text())


def keda_series(name: str, size: int) -> dict[str, float]:
    """One KEDA gauge, by ScaledObject, for the run's ScaledObjects (fleet-0000 .. size - 1)."""
    wanted = {fleet.name_of(index) for index in range(size)}
    with urllib.request.urlopen(KEDA_METRICS_URL, timeout=30) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            so = labels.get("scaledObject") or labels.get("resource", "")
            if sample.name == name and labels.get("namespace") == fleet.NAMESPACE and so in wanted:
                values[so] = sample.value
    return values


class Usage:
    """RSS (now and the peak seen by `sample`) and CPU seconds of one process."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0.0
        self.cpu_start = self._cpu()

    def _cpu(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def sample(self) -> float:
        rss = self.process.memory_info().rss / MIB
        self.peak = max(self.peak, rss)
        return rss

    def cpu_since_start(self) -> float:
        return self._cpu() - self.cpu_start


# -- one run --------------------------------------------------------------------------------------


def run(approach: str, size: int, args: argparse.Namespace, env: dict[str, str], work: Path) -> Run:
    api = api_client_from_kubeconfig(env["KUBECONFIG"])
    fleet.scale_to_zero(api, size)
    script("keda", "up", env)  # (a no-op when it runs) KEDA must run to release the ScaledObjects
    fleet.delete_scaled_objects(api)  # left by an interrupted run
    script("keda", "down", env)  # a fresh operator for every run
    script("keda", "up", env)
    server, scaler_address, server_log = None, "", work / f"serve-grpc-{size}.log"
    if approach == "external":
        server, scaler_address = start_external_scaler(server_log)
    try:
        started = time.monotonic()
        objects = [
            fleet.scaled_object(i, args.bootstrap, args.polling_interval, scaler_address) for i in range(size)
        ]
        fleet.create_scaled_objects(api, objects)
        wait_for_metrics(size, args.warmup_timeout)
        warmup = time.monotonic() - started
        print(f"{approach} size={size}: every ScaledObject has a metric after {warmup:.0f}s", flush=True)
        time.sleep(2 * args.polling_interval)
        result = measure(approach, size, args, server, server_log)
        result.warmup_s = warmup
        fleet.delete_scaled_objects(api)
        return result
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)


def start_external_scaler(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-m", "lagscale", "serve-grpc", "--listen", f"127.0.0.1:{port}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAGSCALE_", "KAFKA_EVENTHUB_"))}
    with log.open("wb") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
    deadline = time.monotonic() + 60
    while "grpc_listening" not in log.read_text():
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"lagscale serve-grpc did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)
    return server, f"127.0.0.1:{port}"


def free_port() -> int:
    import socket  # noqa: PLC0415 - only here

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_metrics(size: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(keda_series("keda_scaler_metrics_value", size)) < size:
        if time.monotonic() > deadline:
            found = len(keda_series("keda_scaler_metrics_value", size))
            raise SystemExit(f"only {found} of {size} ScaledObjects had a metric after {timeout:.0f}s")
        time.sleep(5)


def measure(
    approach: str, size: int, args: argparse.Namespace, server: subprocess.Popen[bytes] | None, log: Path
) -> Run:
    operator = Usage(keda_pid())
    scaler = Usage(server.pid) if server is not None else None
    log_offset = log.stat().st_size if server is not None else 0
    requests_log = STATE / "kafka" / "logs" / "requests.log"
    window = args.intervals * args.polling_interval
    with BrokerRequestLog(args.bootstrap, requests_log) as broker:
        start = broker.mark()
        operator_cpu_start = operator.cpu_since_start()
        scaler_cpu_start = scaler.cpu_since_start() if scaler else 0.0
        deadline = time.monotonic() + window
        while time.monotonic() < deadline:
            operator.sample()
            if scaler:
                scaler.sample()
            time.sleep(2)
        # The offsets reader's requests: those over its own sockets to the broker (the operator's
        # sarama clients, or the external scaler's one client); anything else is counted apart.
        reader_pid = server.pid if server is not None else keda_pid()
        end = broker.mark()
        counts = broker.count_since(start, until=end)
        own = broker.count_since(start, client_ports=broker_ports(reader_pid, args.bootstrap), until=end)
    result = Run(
        approach,
        size,
        warmup_s=0.0,
        operator_rss=operator.sample(),
        operator_rss_peak=operator.peak,
        operator_cpu=(operator.cpu_since_start() - operator_cpu_start) / args.intervals,
    )
    for (client, api_key), count in own.items():
        result.clients[client] = result.clients.get(client, 0) + count / args.intervals
        result.requests[api_key] = result.requests.get(api_key, 0) + count / args.intervals
    result.other_requests = (sum(counts.values()) - sum(own.values())) / args.intervals
    latencies = list(keda_series("keda_scaler_metrics_latency_seconds", size).values())
    result.latency_median, result.latency_max = statistics.median(latencies), max(latencies)
    result.loop_lag_max = max(keda_series("keda_internal_scale_loop_latency_seconds", size).values())
    result.metrics = keda_series("keda_scaler_metrics_value", size)
    result.hpa_condition = hpa_condition(env_kubeconfig(), fleet.name_of(0))
    if scaler is not None:
        result.scaler_rss, result.scaler_rss_peak = scaler.sample(), scaler.peak
        result.scaler_cpu = (scaler.cpu_since_start() - scaler_cpu_start) / args.intervals
        rounds_from_log(result, log, log_offset, args.intervals)
    return result


def env_kubeconfig() -> str:
    return str(STATE / "k8s" / "kubeconfig")


def hpa_condition(kubeconfig: str, name: str) -> str:
    """What the HPA controller says about metrics: without KEDA's metrics adapter it cannot get them."""
    from kubernetes import client  # noqa: PLC0415

    api = client.AutoscalingV2Api(api_client_from_kubeconfig(kubeconfig))
    hpa = api.read_namespaced_horizontal_pod_autoscaler(f"keda-hpa-{name}", fleet.NAMESPACE)
    for condition in hpa.status.conditions or []:
        if condition.type == "ScalingActive":
            return f"ScalingActive={condition.status} ({condition.reason})"
    return "no ScalingActive condition"


def broker_ports(pid: int, bootstrap: str) -> set[int]:
    """The local ports of a process's connections to the broker."""
    port = int(bootstrap.rpartition(":")[2])
    connections = psutil.Process(pid).net_connections("tcp")
    return {c.laddr.port for c in connections if c.raddr and c.raddr.port == port}


def rounds_from_log(result: Run, log: Path, offset: int, intervals: int) -> None:
    """The external scaler's own account of the window: rounds, their time, requests it counted."""
    with log.open(errors="replace") as lines:
        lines.seek(offset)
        fields = [_fields(line) for line in lines if "event=round " in line or "event=evaluated " in line]
    rounds = [f for f in fields if f.get("event") == "round"]
    seconds = [float(f["seconds"]) for f in rounds]
    result.rounds = len(rounds) / intervals
    result.round_seconds_max = max(seconds, default=0.0)
    result.round_seconds_total = sum(seconds) / intervals
    result.counted_requests = sum(int(f["requests"]) for f in rounds) / intervals
    ages = [float(f["sample_age"]) for f in fields if f.get("event") == "evaluated"]
    result.sample_age_max = max(ages, default=0.0)


def _fields(line: str) -> dict[str, str]:
    return dict(token.split("=", 1) for token in line.split() if "=" in token)


# -- checks ---------------------------------------------------------------------------------------


def check_metrics(runs: list[Run], size: int, bootstrap: str) -> int:
    """Both runs' metrics equal for every ScaledObject, and a sample equal to `lagscale lag`."""
    builtin, external = runs
    if builtin.metrics != external.metrics or len(builtin.metrics) != size:
        differ = sorted(k for k in builtin.metrics.keys() | external.metrics.keys()
                        if builtin.metrics.get(k) != external.metrics.get(k))  # fmt: skip
        raise SystemExit(f"size {size}: metrics differ for {len(differ)} ScaledObjects, e.g. {differ[:5]}")
    for index in range(0, size, max(size // SAMPLE_CHECKS, 1)):
        ours = lagscale_lag(index, bootstrap)
        if float(ours["metric"]) != builtin.metrics[fleet.name_of(index)]:
            raise SystemExit(
                f"{fleet.name_of(index)}: KEDA exported {builtin.metrics[fleet.name_of(index)]}, "
                f"lagscale lag says {ours['metric']}"
            )
    return len(range(0, size, max(size // SAMPLE_CHECKS, 1)))


def lagscale_lag(index: int, bootstrap: str) -> dict[str, object]:
    metadata = fleet.trigger_metadata(index, bootstrap)
    command = [
        sys.executable, "-m", "lagscale", "lag", "--profile", "plaintext", "--bootstrap", bootstrap,
        "--group", metadata["consumerGroup"], "--topic", metadata["topic"],
        "--lag-threshold", metadata["lagThreshold"], "--offset-reset-policy", metadata["offsetResetPolicy"],
        "--json",
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO_ROOT).stdout
    last: dict[str, object] = json.loads(output.strip().splitlines()[-1])
    return last


# -- the table ------------------------------------------------------------------------------------

# (API key as the broker logs it, column heading)
_API_COLUMNS = (
    ("METADATA", "Metadata"),
    ("OFFSET_FETCH", "OffsetFetch"),
    ("FIND_COORDINATOR", "FindCoordinator"),
    ("LIST_OFFSETS", "ListOffsets"),
)


def markdown(results: list[tuple[Run, Run, int]], args: argparse.Namespace, command: str) -> str:
    lines = [
        "## Many ScaledObjects: KEDA's kafka scaler vs one lagscale external scaler",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other work), "
        f"{psutil.virtual_memory().total / 1024**3:.0f} GiB; KEDA 2.20.2 operator (scripts/keda, out of "
        "cluster), Kubernetes 1.35 control plane with KWOK nodes (scripts/k8s), one local Kafka 4.1 broker "
        f"(scripts/kafka). The operator runs with --kube-api-qps {args.keda_qps} --kube-api-burst "
        f"{args.keda_burst} in both runs: with KEDA's defaults (20 and 30) it took ~1 s per new "
        "ScaledObject here, in both approaches alike. Every ScaledObject: its own topic (6-12 partitions) "
        "and consumer group, lag "
        f"committed behind the log end, lagThreshold {fleet.LAG_THRESHOLD}, pollingInterval "
        f"{args.polling_interval} s, minReplicaCount 0 (all active, so each Deployment runs 1 KWOK pod). "
        f"The broker holds the {max(r[0].size for r in results)} topics of the largest size in every run "
        "(sarama's clients keep the metadata of every topic). "
        f"Measured over {args.intervals} polling intervals after a warm-up; requests and CPU are per "
        "polling interval; requests are those the broker logged over the offsets reader's own connections "
        "(the operator's in the first run, the external scaler's in the second). HPAs: "
        f"{results[0][0].hpa_condition}: there is no KEDA metrics adapter here, so the HPA controller cannot "
        "read the external metric and replicas move only by KEDA's own 0 <-> 1 steps.",
        "",
        "| ScaledObjects | approach | KEDA RSS MiB | scaler RSS MiB | total MiB | of built-in | "
        "KEDA CPU s | scaler CPU s | requests | "
        + " | ".join(heading for _, heading in _API_COLUMNS)
        + " | KEDA latency median / max s | scale-loop lag max s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(_API_COLUMNS) + "---:|---:|",
    ]
    for builtin, external, _ in results:
        for run_ in (builtin, external):
            total = run_.operator_rss + run_.scaler_rss
            ratio = f"{total / builtin.operator_rss:.2f}x"
            scaler_rss = f"{run_.scaler_rss:.0f}" if run_.scaler_rss else "-"
            scaler_cpu = f"{run_.scaler_cpu:.2f}" if run_.scaler_rss else "-"
            label = "KEDA `kafka` trigger" if run_ is builtin else "KEDA + lagscale `external`"
            apis = " | ".join(f"{run_.requests.get(key, 0):.0f}" for key, _ in _API_COLUMNS)
            lines.append(
                f"| {run_.size} | {label} | {run_.operator_rss:.0f} | {scaler_rss} | {total:.0f} | {ratio} | "
                f"{run_.operator_cpu:.2f} | {scaler_cpu} | {run_.total_requests:.0f} | {apis} | "
                f"{run_.latency_median:.3f} / {run_.latency_max:.3f} | {run_.loop_lag_max:.2f} |"
            )
    lines += ["", "The external scaler's own account (its log), per polling interval:", ""]
    lines += [
        "| ScaledObjects | rounds | round s total / max | requests it counted | oldest sample used s | "
        "metrics equal (all) | sample = `lagscale lag` | warm-up s built-in / external |",
        "|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    for builtin, external, checked in results:
        lines.append(
            f"| {external.size} | {external.rounds:.1f} | {external.round_seconds_total:.2f} / "
            f"{external.round_seconds_max:.2f} | {external.counted_requests:.0f} | "
            f"{external.sample_age_max:.1f} | yes ({external.size}) | yes ({checked}) | "
            f"{builtin.warmup_s:.0f} / {external.warmup_s:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="100", help="comma list of ScaledObject counts (e.g. 100,300,1000)"
    )
    parser.add_argument(
        "--polling-interval", type=int, default=30, help="pollingInterval of every ScaledObject"
    )
    parser.add_argument("--intervals", type=int, default=3, help="polling intervals measured per run")
    parser.add_argument(
        "--warmup-timeout", type=float, default=7200.0, help="seconds for every metric to appear"
    )
    parser.add_argument(
        "--keda-qps", type=int, default=200, help="the operator's --kube-api-qps, the same in both runs"
    )
    parser.add_argument(
        "--keda-burst", type=int, default=400, help="the operator's --kube-api-burst, the same in both runs"
    )
    parser.add_argument("--keep-topics", action="store_true", help="leave the fleet's topics for a next run")
    parser.add_argument(
        "--update-docs", type=Path, default=None, help="write the tables into this markdown file"
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    env = dict(os.environ)
    script("kafka", "up", env)
    script("k8s", "up", env)
    env["KUBECONFIG"] = str(STATE / "k8s" / "kubeconfig")
    # With KEDA's default 20 QPS the operator's API calls cap it near one new ScaledObject a second
    # (1000 took over 30 min to warm up); both runs get the same limit.
    env["KEDA_KUBE_API_QPS"], env["KEDA_KUBE_API_BURST"] = str(args.keda_qps), str(args.keda_burst)
    args.bootstrap = env_value(STATE / "kafka" / "kafka.env", "LAGSCALE_BOOTSTRAP")
    work = STATE / "bench-fleet"
    work.mkdir(parents=True, exist_ok=True)
    fleet.ensure_topics(args.bootstrap, max(sizes))
    results = []
    try:
        for size in sizes:
            fleet.ensure_cluster_objects(api_client_from_kubeconfig(env["KUBECONFIG"]), size)
            pair = [run(approach, size, args, env, work) for approach in ("kafka", "external")]
            checked = check_metrics(pair, size, args.bootstrap)
            results.append((pair[0], pair[1], checked))
            for run_ in pair:
                print(json.dumps({k: v for k, v in vars(run_).items() if k != "metrics"}), flush=True)
    finally:
        if not args.keep_topics:
            fleet.delete_topics(args.bootstrap, max(sizes))
    section = markdown(
        results,
        args,
        f".venv/bin/python bench/bench_fleet.py --sizes {args.sizes} --keda-qps {args.keda_qps} "
        f"--keda-burst {args.keda_burst} --update-docs docs/benchmarks.md",
    )
    print(section)
    if args.update_docs:
        update_docs(args.update_docs, f"bench_fleet-{'-'.join(map(str, sizes))}", section)


if __name__ == "__main__":
    main()

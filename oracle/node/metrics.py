"""Prometheus metrics of one node, in a registry of its own (several nodes may share a process)."""

from __future__ import annotations

import platform

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class NodeMetrics:
    """Counters an operator alerts on: missed windows, RPC failures, rejections, latency; what
    the node runs (build info) and what its operator holds on chain (stake, credit, balance)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.tasks_assigned = Counter(
            "genoracle_tasks_assigned", "Tasks this node was drawn for", registry=self.registry
        )
        self.transactions_sent = Counter(
            "genoracle_transactions_sent",
            "Transactions broadcast, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.tasks_finished = Counter(
            "genoracle_tasks_finished",
            "Tasks that reached a final state, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.windows_missed = Counter(
            "genoracle_windows_missed",
            "Commit or reveal windows the node missed",
            ["step"],
            registry=self.registry,
        )
        self.rejections = Counter(
            "genoracle_rejections",
            "Inputs or tasks the node refused, recorded with a reason",
            registry=self.registry,
        )
        self.rpc_errors = Counter(
            "genoracle_rpc_errors",
            "Loop iterations that failed on an unreachable RPC",
            registry=self.registry,
        )
        self.reverts = Counter(
            "genoracle_reverts",
            "Simulated or mined calls the contract rejected, by error",
            ["error"],
            registry=self.registry,
        )
        self.worker_restarts = Counter(
            "genoracle_worker_restarts",
            "Inference worker processes started again after one died",
            registry=self.registry,
        )
        self.inference_seconds = Histogram(
            "genoracle_inference_seconds",
            "Inference time per task as the runner measured it",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.head_block = Gauge(
            "genoracle_head_block", "Latest block the listener saw", registry=self.registry
        )
        self.backlog_seconds = Gauge(
            "genoracle_inference_backlog_seconds",
            "Worker time the queued and running jobs still need, at the recent pace",
            registry=self.registry,
        )
        self.assignments_paused = Gauge(
            "genoracle_assignments_paused_by_node",
            "1 while the node has paused its assignments because of its backlog",
            registry=self.registry,
        )
        self.active_tasks = Gauge(
            "genoracle_active_tasks",
            "Tasks between assignment and a final state",
            registry=self.registry,
        )

        self.build_info = Gauge(
            "genoracle_build_info",
            "Always 1: the genoracle version, the deployed oracle's protocol version, Python's",
            ["version", "protocol", "python"],
            registry=self.registry,
        )
        self.stake_wei = Gauge(
            "genoracle_stake_wei",
            "The operator's stake on chain (read when metrics are scraped)",
            registry=self.registry,
        )
        self.credit_wei = Gauge(
            "genoracle_credit_wei",
            "The operator's unclaimed credit at the oracle (fees, slash shares; claim() pays it)",
            registry=self.registry,
        )
        self.balance_wei = Gauge(
            "genoracle_balance_wei",
            "The operator account's balance, which pays for gas",
            registry=self.registry,
        )
        self.models_unregistered = Gauge(
            "genoracle_models_unregistered",
            "Models this node serves that the registry does not list as active (no tasks come)",
            registry=self.registry,
        )

    def set_build_info(self, version: str, protocol: str) -> None:
        self.build_info.clear()
        self.build_info.labels(
            version=version, protocol=protocol, python=platform.python_version()
        ).set(1)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))

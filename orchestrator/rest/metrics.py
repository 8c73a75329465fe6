"""`GET /metrics`: every connection's counters in the Prometheus text format.

Series, one per connection, labelled `tenant`, `connection` and `provider` (the labels come
from the connection itself, `WebSocketClient.metrics().labels`). A tenant's key scrapes its
own connections, the admin key (or the single server's key) every connection:

    feeddock_connections                          connections this server holds
    feeddock_connection_running                   1 while the provider worker runs
    feeddock_connection_broadcasting              1 while the broadcast server runs
    feeddock_connection_records_per_second        records written per second (last 10 s)
    feeddock_provider_<field>[_total]             each figure of the worker's `stats` line
    feeddock_broadcast_<field>[_total]            each figure of the broadcast server's
    feeddock_<role>_report_timestamp_seconds      when that line arrived

Fields named in COUNTERS are counters (`_total`; they restart from zero with a new worker,
which Prometheus' rate() handles as a reset); every other numeric field is a gauge, so a
figure a worker adds tomorrow is exported without a change here. Figures are what the worker
last reported, at most a few seconds old (the workers' `stats` interval).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..api import WebSocketsAPI
from ..client import WebSocketClient
from ..stats import ConnectionMetrics
from .access import Who
from .directory import Directory

COUNTERS: dict[str, frozenset[str]] = {
    "provider": frozenset(
        {"received", "written", "dropped", "lost", "invalid", "unreadable", "reconnects"}
    ),
    "broadcast": frozenset(
        {
            "records_read", "records_sent", "frames_sent", "slow_closes", "gaps",
            "records_lost", "refused", "queries", "notifications",
        }
    ),
}  # fmt: skip
# Known gauges whose unit belongs in their name (Prometheus naming: base units, suffixed).
RENAMED = {
    "last_record_time": "last_record_timestamp_seconds",
    "commit_lag": "commit_lag_seconds",
    "backlog": "backlog_seconds",
}
HELP: dict[str, str] = {
    "received": "Records received from the provider.",
    "written": "Records committed to the results file.",
    "dropped": "Records dropped because the buffer was full.",
    "invalid": "Records the provider's data model refused.",
    "unreadable": "Frames that could not be read.",
    "reconnects": "Reconnections to the provider.",
    "last_record_timestamp_seconds": "Unix time of the newest record received.",
    "commit_lag_seconds": "Longest receive-to-commit delay since the previous report.",
    "listeners": "Listeners connected.",
    "records_sent": "Records sent to listeners.",
    "frames_sent": "WebSocket frames sent to listeners.",
    "slow_closes": "Listeners closed for being too slow.",
    "gaps": "Gaps in the results table (rows trimmed before they were read).",
    "buffered_bytes": "Bytes waiting to be sent to listeners.",
    "queries": "Queries the broadcast server made to the results file to follow it.",
    "notifications": "File events the broadcast server read to learn of commits.",
}
NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(role: str, field: str) -> str:
    return f"feeddock_{role}_{NAME_UNSAFE.sub('_', RENAMED.get(field, field))}"


class ConnectionsCollector(Collector):
    """Reads the connections at each scrape (nothing is kept between scrapes)."""

    def __init__(self, apis: list[WebSocketsAPI]) -> None:
        self.apis = apis

    def _clients(self) -> list[WebSocketClient]:
        clients: list[WebSocketClient] = []
        for api in self.apis:
            api.runtime  # noqa: B018 -- adopts surviving workers first
            clients += api.registry.all()
        return clients

    def collect(self) -> Iterator[Metric]:
        clients = self._clients()
        yield GaugeMetricFamily("feeddock_connections", "Connections held.", value=len(clients))
        rows = [(client, client.metrics()) for client in clients]
        label_names = sorted({key for _, metrics in rows for key in metrics.labels})
        yield from self._state(rows, label_names)
        for role in ("provider", "broadcast"):
            yield from self._figures(role, [metrics for _, metrics in rows], label_names)

    @staticmethod
    def _state(
        rows: list[tuple[WebSocketClient, ConnectionMetrics]], label_names: list[str]
    ) -> Iterator[Metric]:
        running = GaugeMetricFamily(
            "feeddock_connection_running", "1 while the provider worker runs.", labels=label_names
        )
        broadcasting = GaugeMetricFamily(
            "feeddock_connection_broadcasting",
            "1 while the broadcast server runs.",
            labels=label_names,
        )
        rate = GaugeMetricFamily(
            "feeddock_connection_records_per_second",
            "Records written per second over the last 10 s.",
            labels=label_names,
        )
        for client, metrics in rows:
            values = [metrics.labels.get(name, "") for name in label_names]
            running.add_metric(values, float(client.is_running))
            broadcasting.add_metric(values, float(client.is_broadcasting))
            if metrics.records_per_second is not None:
                rate.add_metric(values, metrics.records_per_second)
        yield from (running, broadcasting, rate)

    @staticmethod
    def _figures(
        role: str, rows: Iterable[ConnectionMetrics], label_names: list[str]
    ) -> Iterator[Metric]:
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        reported = GaugeMetricFamily(
            f"feeddock_{role}_report_timestamp_seconds",
            f"Unix time of the {role} worker's latest stats line.",
            labels=label_names,
        )
        for metrics in rows:
            values = [metrics.labels.get(name, "") for name in label_names]
            figures = metrics.provider if role == "provider" else metrics.broadcast
            at = getattr(metrics, f"{role}_reported_at")
            if at is not None:
                reported.add_metric(values, at)
            for field, value in sorted(figures.items()):
                name = metric_name(role, field)
                family = families.get(name)
                if family is None:
                    short = RENAMED.get(field, field)
                    text = HELP.get(short, f"'{field}' in the {role} worker's stats line.")
                    kind = CounterMetricFamily if field in COUNTERS[role] else GaugeMetricFamily
                    family = families[name] = kind(name, text, labels=label_names)
                family.add_metric(values, value)
        yield reported
        yield from families.values()


def metrics_router(directory: Directory) -> APIRouter:
    router = APIRouter(tags=["metrics"])

    @router.get("/metrics", response_class=Response)
    def metrics(who: Who) -> Response:
        """The caller's connections' counters in the Prometheus text format."""
        apis = list(directory.apis().values()) if who.admin else [who.tenant_api()]
        registry = CollectorRegistry(auto_describe=False)
        registry.register(ConnectionsCollector(apis))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router


__all__ = ["COUNTERS", "ConnectionsCollector", "metric_name", "metrics_router"]

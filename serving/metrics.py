"""Prometheus metrics of the service (prometheus_client, one registry per application).

Requests are counted by method, path *template* and status, so a pupil id never becomes a label
and the number of series stays bounded; paths that match no route count as "unmatched". Beside
them: the latency histogram per path template, the risk scores handed out, the garbage
collector's pauses (when watched) and the served champion, read from the holder's status at
each scrape. The text is Prometheus' exposition format 0.0.4, as before.
"""

from __future__ import annotations

import threading
from collections import defaultdict

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
SCORE_KINDS = ("risk", "history")

disable_created_metrics()  # no `_created` series: what is exported stays what it was


class _Served:
    """A collector of what is read at scrape time: GC pauses and the holder's status."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def collect(self):
        metrics = self.metrics
        pauses = sorted((gen, tuple(p)) for gen, p in list(metrics.gc_pauses.items()))
        model = metrics._model
        if pauses:
            gc = Metric("ews_gc_pause_seconds", "Garbage collector pauses by generation.", "summary")
            for gen, (n, total, longest) in pauses:
                labels = {"generation": str(gen)}
                gc.add_sample("ews_gc_pause_seconds_count", labels, n)
                gc.add_sample("ews_gc_pause_seconds_sum", labels, total)
                gc.add_sample("ews_gc_pause_seconds_max", labels, longest)
            yield gc
        info = GaugeMetricFamily("ews_model_info",
                                 "The champion model version being served (value 1).",
                                 labels=["version"])
        info.add_metric([str(model.get("model_version") or "none")], 1)
        yield info
        yield GaugeMetricFamily("ews_model_registry_reachable",
                                "Whether the last registry check answered.",
                                value=1 if model.get("registry_reachable") else 0)
        yield CounterMetricFamily("ews_model_swaps", "Champion models swapped in since start-up.",
                                  value=model.get("swaps", 0))


class Metrics:
    """Request counts and latencies, scores served, GC pauses and the served model (thread-safe:
    prometheus_client's metrics are)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("ews_http_requests", "HTTP requests by method, path template and "
                                "status.", ["method", "path", "status"], registry=self.registry)
        self.latency = Histogram("ews_http_request_duration_seconds",
                                 "Request latency by path template.", ["path"], buckets=BUCKETS,
                                 registry=self.registry)
        self.scores_served = Counter("ews_scores_served", "Risk scores handed out, by kind.",
                                     ["kind"], registry=self.registry)
        for kind in SCORE_KINDS:
            self.scores_served.labels(kind=kind)
        self._scrape = threading.Lock()  # one scrape at a time: `_model` is the scrape's status
        self.gc_pauses: dict[int, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
        self._gc_started = 0.0
        self._model: dict = {}
        self.registry.register(_Served(self))

    def watch_gc(self) -> None:
        """Count the garbage collector's pauses (they stop every thread) by generation."""
        import gc
        import time

        def callback(phase: str, info: dict) -> None:
            if phase == "start":
                self._gc_started = time.perf_counter()
                return
            took = time.perf_counter() - self._gc_started
            pauses = self.gc_pauses[info["generation"]]
            pauses[0] += 1
            pauses[1] += took
            pauses[2] = max(pauses[2], took)

        gc.callbacks.append(callback)

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        self.requests.labels(method=method, path=path, status=str(status)).inc()
        self.latency.labels(path=path).observe(seconds)

    def scores(self, kind: str, n: int = 1) -> None:
        """Count risk scores handed out (`kind`: risk, history)."""
        self.scores_served.labels(kind=kind).inc(n)

    def render(self, model: dict) -> str:
        """The exposition text; `model` holds the holder's status (version, reachability, swaps)."""
        with self._scrape:
            self._model = model
            return generate_latest(self.registry).decode("utf-8")

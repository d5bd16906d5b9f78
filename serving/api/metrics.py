"""Prometheus metrics in the text exposition format, kept by hand (a few counters and one
histogram do not need a client library).

Requests are counted by method, path *template* and status, so a pupil id never becomes a label
and the number of series stays bounded; paths that match no route count as "unmatched".
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items()) + "}"


class Metrics:
    """Request counts and latencies, scores served, and the served model (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self.latency_counts: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = defaultdict(float)
        self.scores_served: dict[str, int] = defaultdict(int)
        self.gc_pauses: dict[int, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
        self._gc_started = 0.0

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
        with self._lock:
            self.requests[(method, path, str(status))] += 1
            counts = self.latency_counts.setdefault(path, [0] * (len(BUCKETS) + 1))
            counts[bisect.bisect_left(BUCKETS, seconds)] += 1
            self.latency_sum[path] += seconds

    def scores(self, kind: str, n: int = 1) -> None:
        """Count risk scores handed out (`kind`: risk, history)."""
        with self._lock:
            self.scores_served[kind] += n

    def render(self, model: dict) -> str:
        """The exposition text; `model` holds the holder's status (version, reachability)."""
        lines = ["# HELP ews_http_requests_total HTTP requests by method, path template and "
                 "status.", "# TYPE ews_http_requests_total counter"]
        with self._lock:
            for (method, path, status), n in sorted(self.requests.items()):
                labels = _labels(method=method, path=path, status=status)
                lines.append(f"ews_http_requests_total{labels} {n}")
            lines += ["# HELP ews_http_request_duration_seconds Request latency by path template.",
                      "# TYPE ews_http_request_duration_seconds histogram"]
            for path, counts in sorted(self.latency_counts.items()):
                cumulative = 0
                for bound, n in zip((*BUCKETS, float("inf")), counts, strict=True):
                    cumulative += n
                    le = "+Inf" if bound == float("inf") else repr(bound)
                    lines.append("ews_http_request_duration_seconds_bucket"
                                 f"{_labels(path=path, le=le)} {cumulative}")
                lines.append(f"ews_http_request_duration_seconds_sum{_labels(path=path)} "
                             f"{self.latency_sum[path]:.6f}")
                lines.append(f"ews_http_request_duration_seconds_count{_labels(path=path)} "
                             f"{cumulative}")
            lines += ["# HELP ews_scores_served_total Risk scores handed out, by kind.",
                      "# TYPE ews_scores_served_total counter"]
            for kind in sorted(set(self.scores_served) | {"risk", "history"}):
                lines.append(f"ews_scores_served_total{_labels(kind=kind)} "
                             f"{self.scores_served[kind]}")
        if self.gc_pauses:
            lines += ["# HELP ews_gc_pause_seconds Garbage collector pauses by generation.",
                      "# TYPE ews_gc_pause_seconds summary"]
            for gen, (n, total, longest) in sorted(self.gc_pauses.items()):
                lines += [f"ews_gc_pause_seconds_count{_labels(generation=str(gen))} {n}",
                          f"ews_gc_pause_seconds_sum{_labels(generation=str(gen))} {total:.6f}",
                          f"ews_gc_pause_seconds_max{_labels(generation=str(gen))} {longest:.6f}"]
        version = model.get("model_version") or "none"
        lines += ["# HELP ews_model_info The champion model version being served (value 1).",
                  "# TYPE ews_model_info gauge",
                  f"ews_model_info{_labels(version=version)} 1",
                  "# HELP ews_model_registry_reachable Whether the last registry check answered.",
                  "# TYPE ews_model_registry_reachable gauge",
                  f"ews_model_registry_reachable {1 if model.get('registry_reachable') else 0}",
                  "# HELP ews_model_swaps_total Champion models swapped in since start-up.",
                  "# TYPE ews_model_swaps_total counter",
                  f"ews_model_swaps_total {model.get('swaps', 0)}"]
        return "\n".join(lines) + "\n"

"""Prometheus metrics of a Clarion process (``prometheus_client``), served at ``/metrics``.

Everything lives in :data:`REGISTRY` (Clarion's own registry, not the library's global
one). Three kinds:

* request metrics, recorded by :mod:`clarion.api.metrics` (an ASGI middleware):
  ``clarion_http_request_duration_seconds{method,route,status}``;
* database totals, refreshed on every scrape with a few GROUP BY queries over the
  counters table (:func:`refresh`): ``clarion_messages{status}``,
  ``clarion_campaigns{status}``, ``clarion_queue_depth``, ``clarion_tasks{status}``,
  ``clarion_task_leases``, ``clarion_workers``, ``clarion_campaign_leases``; every
  process reports the same database totals;
* dispatcher hooks, for the dispatch loop to call (this process's own work):
  :func:`observe_claim` (``clarion_dispatch_claim_seconds``),
  :func:`count_submissions` (``clarion_dispatch_submissions_total{channel,outcome}``,
  whose ``rate()`` is the send rate), :func:`set_campaign_leases`
  (``clarion_worker_campaign_leases``) and :func:`heartbeat`
  (``clarion_worker_heartbeat_timestamp_seconds``).

See docs/operations.md for the names, labels and example queries.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from clarion.store.metrics import Snapshot

REGISTRY = CollectorRegistry(auto_describe=True)

# Seconds; tuned for an API answering in milliseconds and a claim of a few hundred rows.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_LATENCY = Histogram(
    "clarion_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template and status code.",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
MESSAGES = Gauge(
    "clarion_messages",
    "Messages by status over every campaign (from the counters table, at scrape time).",
    ["status"],
    registry=REGISTRY,
)
CAMPAIGNS = Gauge(
    "clarion_campaigns", "Campaigns by status (at scrape time).", ["status"], registry=REGISTRY
)
QUEUE_DEPTH = Gauge(
    "clarion_queue_depth",
    "Messages waiting to be sent: NEW messages of RUNNING campaigns (at scrape time).",
    registry=REGISTRY,
)
TASKS = Gauge(
    "clarion_tasks",
    "Background tasks (recipient imports) by status (at scrape time).",
    ["status"],
    registry=REGISTRY,
)
TASK_LEASES = Gauge(
    "clarion_task_leases",
    "Background tasks whose worker lease has not expired (at scrape time).",
    registry=REGISTRY,
)
WORKERS = Gauge(
    "clarion_workers",
    "Registered dispatch workers with a recent heartbeat (at scrape time).",
    registry=REGISTRY,
)
LEASES = Gauge(
    "clarion_campaign_leases",
    "Unexpired campaign leases over every worker (at scrape time).",
    registry=REGISTRY,
)
CLAIM_LATENCY = Histogram(
    "clarion_dispatch_claim_seconds",
    "Time of one dispatcher claim transaction (select, mark SENDING, debit).",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
SUBMISSIONS = Counter(
    "clarion_dispatch_submissions",
    "Messages submitted to a channel by this process, by channel and outcome.",
    ["channel", "outcome"],
    registry=REGISTRY,
)
CAMPAIGN_LEASES = Gauge(
    "clarion_worker_campaign_leases",
    "Campaign leases this process's dispatcher holds.",
    registry=REGISTRY,
)
HEARTBEAT = Gauge(
    "clarion_worker_heartbeat_timestamp_seconds",
    "Unix time of this process's dispatcher's last heartbeat.",
    registry=REGISTRY,
)


def observe_claim(seconds: float) -> None:
    """Record one claim transaction's duration (dispatcher hook)."""
    CLAIM_LATENCY.observe(seconds)


def count_submissions(channel: str, outcome: str, count: int = 1) -> None:
    """Count ``count`` submissions to ``channel`` that ended ``outcome`` (accepted,
    rejected, temporary, throttled, unknown: a short fixed set; dispatcher hook)."""
    if count:
        SUBMISSIONS.labels(channel=channel, outcome=outcome).inc(count)


def set_campaign_leases(count: int) -> None:
    """The number of campaign leases this process holds now (dispatcher hook)."""
    CAMPAIGN_LEASES.set(count)


def heartbeat(unix_time: float) -> None:
    """The dispatcher's heartbeat time (dispatcher hook)."""
    HEARTBEAT.set(unix_time)


def _fill(gauge: Gauge, values: dict[str, int]) -> None:
    gauge.clear()  # a status that disappeared is not reported with its old value
    for label, value in values.items():
        gauge.labels(label).set(value)


def refresh(snapshot: Snapshot) -> None:
    """Set the database-derived gauges from a fresh :class:`Snapshot`."""
    _fill(MESSAGES, snapshot.messages)
    _fill(CAMPAIGNS, snapshot.campaigns)
    _fill(TASKS, snapshot.tasks)
    QUEUE_DEPTH.set(snapshot.queue_depth)
    TASK_LEASES.set(snapshot.leased_tasks)
    WORKERS.set(snapshot.live_workers)
    LEASES.set(snapshot.campaign_leases)


def exposition() -> bytes:
    """The registry in Prometheus' text format."""
    return generate_latest(REGISTRY)

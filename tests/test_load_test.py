"""The load test at a tiny size: the API, beat and two workers as real processes, every lead scored exactly once.

The full run (50 leads/s for 2 minutes) is `python -m benchmarks.load_test`; its figures are in
docs/RELIABILITY.md. This proves the harness and the pipeline end to end in CI (about a minute).
"""

from __future__ import annotations

from benchmarks.load_test import run_load


def test_a_small_stream_through_the_api_beat_and_two_workers_loses_and_duplicates_nothing() -> None:
    report = run_load(rate=4, duration_s=3, workers=2, dispatch_interval_s=0.5, drain_timeout_s=90, threads=2)
    assert (report.sent, report.accepted, report.api_errors) == (12, 12, 0)
    assert report.scored == 12
    assert (report.lost, report.duplicated, report.backlog) == (0, 0, 0)
    assert report.failed_runs == 0 and report.undispatched_events == 0
    assert report.statuses == {"succeeded": 12}  # one event run per lead, nothing else
    assert 0 < report.latency_s["p50"] <= report.latency_s["max"]
    assert report.ok

"""A store check that asked nothing is a warning in a Dagster run: WARN severity with its reason
in the metadata, counted apart from passes and failures by the runner and the CLI (a warning
that found a problem, a refused file, still counts as failed)."""

from __future__ import annotations

from dagster import AssetCheckSeverity, DagsterEventType

from hubs.checks.base import ASKED_NOTHING
from tests.conftest import StoreBench
from tests.test_checks_asked_nothing import empty_hubs


def test_g9_without_deletes_is_a_warning_of_the_graph_run(bench: StoreBench, offline_embedder: None) -> None:
    from hub_assets.instance import hubs_instance
    from hub_assets.runner import run_job

    bench.synced("graph")
    bench.release()  # the run opens the store itself
    outcome = run_job("graph_store", quiet=True)
    assert outcome.success, outcome.failures
    assert not outcome.checks_failed
    assert [n for n in outcome.checks_asked_nothing if n.endswith(":G9_deletes_propagated")]
    assert any(n.endswith(":G1_node_counts") for n in outcome.checks_passed)
    with hubs_instance() as instance:
        logs = instance.all_logs(outcome.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    [evaluation] = [
        log.dagster_event.event_specific_data
        for log in logs
        if log.dagster_event.event_specific_data.check_name == "G9_deletes_propagated"
    ]
    assert evaluation.severity == AssetCheckSeverity.WARN and not evaluation.passed
    assert "no delete has been applied" in evaluation.metadata[ASKED_NOTHING].value
    empty_hubs(bench, "graph")  # the session's graph server is shared: leave it empty

"""A CLI run recorded as the UI records its own: with the code location's origins.

The webserver creates a run with `remote_job_origin` (code location "hubs" from workspace.yaml,
repository `defs`) and `job_code_origin` (how to load the job's code), and Dagster tags it with
the repository's label. The Overview timeline, the job's page and the jobs list find runs by
those: a run without them (what `execute_in_process` creates) shows only on the Runs page. So
the CLI creates its run the same way (see dagster_graphql's `create_valid_pipeline_run`), then
executes it in this process exactly as `execute_in_process` would.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from functools import cache
from typing import Any

from dagster import DagsterInstance, JobDefinition
from dagster._core.code_pointer import CodePointer
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.execution.api import ExecuteRunWithPlanIterable, create_execution_plan, job_execution_iterator
from dagster._core.execution.context_creation_job import (
    PlanOrchestrationContextManager,
    orchestration_context_event_generator,
)
from dagster._core.execution.execute_in_process_result import ExecuteInProcessResult
from dagster._core.origin import (
    DEFAULT_DAGSTER_ENTRY_POINT,
    JobPythonOrigin,
    RepositoryPythonOrigin,
    get_python_environment_entry_point,
)
from dagster._core.remote_origin import CodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.workspace.load import location_origins_from_yaml_paths

from hubs.settings import PROJECT_ROOT

LOCATION = "hubs"  # workspace.yaml's location_name
DEFINITIONS_ATTRIBUTE = "defs"  # what hub_assets.definitions exports


@cache
def code_location() -> CodeLocationOrigin:
    """The code location `dagster dev` loads from the repo root, read from workspace.yaml."""
    origins = {o.location_name: o for o in location_origins_from_yaml_paths([str(PROJECT_ROOT / "workspace.yaml")])}
    if LOCATION not in origins:
        raise RuntimeError(f"workspace.yaml defines no code location named {LOCATION!r} (found {sorted(origins)})")
    return origins[LOCATION]


def job_origins(job_name: str, repository_name: str) -> tuple[RemoteJobOrigin, JobPythonOrigin]:
    """The origins the webserver would give a run of `job_name` (its code server's pointer: the
    module of workspace.yaml, the attribute holding the Definitions)."""
    location = code_location()
    target = location.loadable_target_origin  # type: ignore[attr-defined]  # python_module locations have one
    executable = target.executable_path or sys.executable
    python = RepositoryPythonOrigin(
        executable_path=executable,
        # The code server runs in the workspace's folder (the repo root) unless it names one.
        code_pointer=CodePointer.from_module(
            target.module_name, DEFINITIONS_ATTRIBUTE, target.working_directory or str(PROJECT_ROOT)
        ),
        # A code server started by `dagster dev` for a location naming its Python runs jobs so.
        entry_point=(
            get_python_environment_entry_point(executable) if target.executable_path else DEFAULT_DAGSTER_ENTRY_POINT
        ),
        container_context={},
    )
    remote = RemoteRepositoryOrigin(code_location_origin=location, repository_name=repository_name)
    return remote.get_job_origin(job_name), JobPythonOrigin(job_name, python)


def execute_located(
    job_def: JobDefinition,
    repository_name: str | None,
    run_config: Mapping[str, Any],
    instance: DagsterInstance,
    run_id: str,
    tags: Mapping[str, str],
) -> ExecuteInProcessResult:
    """`job_def.execute_in_process(run_config, instance, raise_on_error=False, run_id, tags)`, the
    run created with the code location's origins when `repository_name` is given (a job of the
    code location; dagster's core_execute_in_process otherwise)."""
    ephemeral = job_def.as_ephemeral_job(resource_defs={}, input_values={})  # in-process executor
    job = InMemoryJob(job_def=ephemeral)
    plan = create_execution_plan(job, run_config=run_config, instance_ref=instance.get_ref())
    remote_origin, python_origin = job_origins(job_def.name, repository_name) if repository_name else (None, None)
    run = instance.create_run_for_job(
        job_def=ephemeral,
        execution_plan=plan,
        run_id=run_id,
        run_config=run_config,
        tags={**job_def.run_tags, **tags},
        remote_job_origin=remote_origin,
        job_code_origin=python_origin,
    )
    events = list(
        ExecuteRunWithPlanIterable(
            execution_plan=plan,
            iterator=job_execution_iterator,
            execution_context_manager=PlanOrchestrationContextManager(
                context_event_generator=orchestration_context_event_generator,
                job=job,
                execution_plan=plan,
                dagster_run=run,
                instance=instance,
                run_config=run_config,
                executor_defs=None,
                output_capture={},
                raise_on_error=False,
            ),
        )
    )
    return ExecuteInProcessResult(
        job_def=ephemeral, event_list=events, dagster_run=instance.get_run_by_id(run_id), output_capture={}
    )

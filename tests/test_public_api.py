"""The public surface (SPEC §1), pinned: an accidental addition or removal fails here.

Two levels per module:

* ``SPEC`` — the names SPEC §1 requires; they must exist (a Prefect 0.5 port depends on them).
* ``PINNED`` — the module's whole ``__all__`` today. Changing it on purpose means editing
  this list in the same commit; changing it by accident fails the test.

Modules another part of the project is still writing are skipped until they exist.

The second half checks that ``import lockgate`` is free of side effects, in a fresh
interpreter: no heavy or optional imports, no root-logger handlers, no signal handlers.
"""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
import textwrap
from types import ModuleType
from typing import Any

import pytest

SPEC: dict[str, set[str]] = {
    "lockgate": {
        "Flow",
        "Task",
        "Parameter",
        "task",
        "tags",
        "unmapped",
        "context",
        "triggers",
        "signals",
        "schedules",
    },
    "lockgate.triggers": {
        "all_finished",
        "always_run",
        "all_successful",
        "all_failed",
        "any_successful",
        "any_failed",
        "manual_only",
        "never_run",
        "not_all_skipped",
        "some_successful",
        "some_failed",
    },
    "lockgate.engine.signals": {
        "PrefectStateSignal",
        "StateSignal",
        "FAIL",
        "TRIGGERFAIL",
        "SUCCESS",
        "RETRY",
        "SKIP",
        "PAUSE",
    },
    "lockgate.engine.state": {
        "State",
        "Pending",
        "Paused",
        "Scheduled",
        "Resume",
        "Retrying",
        "Running",
        "Finished",
        "Success",
        "Cached",
        "Mapped",
        "Skipped",
        "Failed",
        "TimedOut",
        "TriggerFailed",
        "Submitted",
        "Queued",
    },
    "lockgate.engine.runner": {"Runner", "ENDRUN"},
    "lockgate.engine.task_runner": {"TaskRunner", "ENDRUN"},
    "lockgate.engine.flow_runner": {"FlowRunner", "ENDRUN"},
    "lockgate.engine.executors": {"Executor", "LocalExecutor", "DaskExecutor"},
    "lockgate.engine.cache_validators": {
        "never_use",
        "duration_only",
        "all_inputs",
        "all_parameters",
        "partial_inputs_only",
        "partial_parameters_only",
    },
    "lockgate.engine.result": {"Result", "SafeResult", "NoResult"},
    "lockgate.engine.result_handlers": {
        "ResultHandler",
        "LocalResultHandler",
        "JSONResultHandler",
    },
    "lockgate.core": {"Task", "Flow", "Edge", "Parameter"},
    "lockgate.tasks.core": {
        "FunctionTask",
        "Constant",
        "List",
        "Tuple",
        "Set",
        "Dict",
        # operator tasks
        "Add",
        "Sub",
        "Mul",
        "Div",
        "FloorDiv",
        "Mod",
        "Pow",
        "And",
        "GreaterThan",
        "GreaterThanOrEqual",
        "LessThan",
        "LessThanOrEqual",
        "GetItem",
        "Equal",
        "NotEqual",
        "Not",
    },
    "lockgate.tasks.control_flow": {"switch", "ifelse", "merge", "FilterTask"},
    "lockgate.utilities.tasks": {"task", "tags", "as_task", "unmapped", "pause_task"},
    "lockgate.schedules": {"IntervalSchedule", "CronSchedule", "OneTimeSchedule"},
}

PINNED: dict[str, list[str]] = {
    "lockgate": [
        "Flow",
        "Parameter",
        "Task",
        "config",
        "context",
        "schedules",
        "signals",
        "tags",
        "task",
        "triggers",
        "unmapped",
    ],
    "lockgate.triggers": [
        "Trigger",
        "UpstreamStates",
        "all_failed",
        "all_finished",
        "all_successful",
        "always_run",
        "any_failed",
        "any_successful",
        "manual_only",
        "never_run",
        "not_all_skipped",
        "some_failed",
        "some_successful",
        "states_of",
    ],
    "lockgate.engine.signals": [
        "ENDRUN",
        "FAIL",
        "PAUSE",
        "RETRY",
        "SKIP",
        "SUCCESS",
        "TRIGGERFAIL",
        "LockgateSignal",
        "PrefectError",
        "PrefectStateSignal",
        "StateSignal",
    ],
    "lockgate.engine.state": [
        "Cached",
        "Cancelled",
        "Failed",
        "Finished",
        "Mapped",
        "MetaState",
        "Paused",
        "Pending",
        "Queued",
        "Resume",
        "Retrying",
        "Running",
        "Scheduled",
        "Skipped",
        "State",
        "Submitted",
        "Success",
        "TimedOut",
        "TriggerFailed",
    ],
    "lockgate.engine.runner": ["ENDRUN", "Runner", "StateHandlerReturnError"],
    "lockgate.engine.task_runner": ["ENDRUN", "TaskRunner", "TaskRunnerInitializeResult"],
    "lockgate.engine.flow_runner": [
        "ENDRUN",
        "FlowRunner",
        "FlowRunnerInitializeResult",
        "TaskContexts",
    ],
    "lockgate.engine.executors": [
        "DaskExecutor",
        "Executor",
        "ExecutorError",
        "LocalExecutor",
        "ProcessExecutor",
        "SynchronousExecutor",
        "TaskTimeoutError",
        "ThreadExecutor",
        "WorkerLostError",
        "default_executor",
        "executor_from_spec",
    ],
    "lockgate.engine.cache_validators": [
        "CacheValidator",
        "all_inputs",
        "all_parameters",
        "duration_only",
        "never_use",
        "partial_inputs_only",
        "partial_parameters_only",
    ],
    "lockgate.engine.result": [
        "MissingResultHandlerError",
        "NoResult",
        "NoResultType",
        "RemoteValue",
        "Result",
        "ResultInterface",
        "SafeResult",
    ],
    "lockgate.engine.result_handlers": [
        "GCSResultHandler",
        "JSONResultHandler",
        "LocalResultHandler",
        "ResultHandler",
        "S3ResultHandler",
    ],
    "lockgate.engine.cloud": ["CloudResultHandler"],
    # Serialization (Prefect 0.5.1's module layout and schema names).
    "lockgate.utilities.serialization": [
        "UUID",
        "Bytes",
        "DateTimeTZ",
        "FunctionReference",
        "JSONCompatible",
        "Nested",
        "ObjectSchema",
        "OneOfSchema",
        "TimeDeltaField",
        "from_qualified_name",
        "to_qualified_name",
    ],
    "lockgate.serialization.edge": ["EdgeSchema"],
    "lockgate.serialization.environment": ["EnvironmentSchema", "LocalEnvironmentSchema"],
    "lockgate.serialization.flow": ["FlowSchema"],
    "lockgate.serialization.result": ["NoResultSchema", "SafeResultSchema", "StateResultSchema"],
    "lockgate.serialization.result_handlers": [
        "BaseResultHandlerSchema",
        "CloudResultHandlerSchema",
        "GCSResultHandlerSchema",
        "JSONResultHandlerSchema",
        "LocalResultHandlerSchema",
        "ResultHandlerSchema",
        "S3ResultHandlerSchema",
    ],
    "lockgate.serialization.schedule": [
        "CronScheduleSchema",
        "IntervalScheduleSchema",
        "OneTimeScheduleSchema",
        "ScheduleSchema",
        "UnionScheduleSchema",
    ],
    "lockgate.serialization.state": [
        "BaseStateSchema",
        "CachedSchema",
        "CancelledSchema",
        "FailedSchema",
        "FinishedSchema",
        "MappedSchema",
        "MetaStateSchema",
        "PausedSchema",
        "PendingSchema",
        "QueuedSchema",
        "ResumeSchema",
        "RetryingSchema",
        "RunningSchema",
        "ScheduledSchema",
        "SkippedSchema",
        "StateSchema",
        "SubmittedSchema",
        "SuccessSchema",
        "TimedOutSchema",
        "TriggerFailedSchema",
    ],
    "lockgate.serialization.task": ["ParameterSchema", "TaskSchema", "build", "read_attribute"],
    "lockgate.core": ["Edge", "Flow", "Parameter", "Task"],
    "lockgate.tasks.core": [
        "Add",
        "And",
        "Constant",
        "Dict",
        "Div",
        "Equal",
        "FloorDiv",
        "FunctionTask",
        "GetItem",
        "GreaterThan",
        "GreaterThanOrEqual",
        "LessThan",
        "LessThanOrEqual",
        "List",
        "Mod",
        "Mul",
        "Not",
        "NotEqual",
        "Or",
        "Pow",
        "Set",
        "Sub",
        "Tuple",
    ],
    "lockgate.tasks.control_flow": ["FilterTask", "ifelse", "merge", "switch"],
    "lockgate.schedules": [
        "CronSchedule",
        "IntervalSchedule",
        "OneTimeSchedule",
        "Schedule",
        "UnionSchedule",
    ],
    "lockgate.engine.schedule_runs": [
        "NoMoreScheduledRuns",
        "run_on_schedule",
        "run_on_schedule_by_default",
    ],
    "lockgate.utilities.executors": [
        "Heartbeat",
        "main_thread_timeout",
        "multiprocessing_timeout",
        "run_with_heartbeat",
        "thread_timeout",
    ],
    "lockgate.utilities.debug": ["is_serializable", "raise_on_exception"],
    "lockgate.configuration": [
        "Config",
        "DEFAULT_CONFIG",
        "ENV_VAR_PREFIX",
        "SHORTHAND_ENV_VARS",
        "config",
        "create_user_config",
        "interpolate_env_var",
        "load_config_file",
        "load_configuration",
        "process_task_defaults",
        "string_to_type",
        "validate_config",
    ],
    "lockgate.engine": [
        "FlowRunner",
        "TaskRunner",
        "get_default_executor_class",
        "get_default_flow_runner_class",
        "get_default_result_handler_class",
        "get_default_task_runner_class",
        "signals",
        "state",
    ],
    "lockgate.utilities.collections": [
        "CompoundKey",
        "DictLike",
        "DotDict",
        "as_nested_dict",
        "dict_to_flatdict",
        "flatdict_to_dict",
        "flatten_seq",
        "merge_dicts",
        "to_dotdict",
    ],
    "lockgate.utilities.configuration": ["set_temporary_config"],
    "lockgate.utilities.context": ["Context", "context"],
    "lockgate.utilities.graphql": ["GraphQLResult"],
    "lockgate.utilities.logging": ["ROOT_LOGGER_NAME", "configure_logging", "get_logger"],
    "lockgate.utilities.tasks": [
        "as_task",
        "contains_task",
        "defaults_from_attrs",
        "pause_task",
        "tags",
        "task",
        "unmapped",
    ],
    # The local task library, secrets, notifications and environments (Prefect 0.5.1 names).
    "lockgate.tasks.shell": ["ShellTask"],
    "lockgate.tasks.database": ["SQLiteQuery", "SQLiteScript"],
    "lockgate.tasks.templates": [
        "JinjaTemplate",
        "JinjaTemplateTask",
        "StringFormatter",
        "StringFormatterTask",
    ],
    "lockgate.tasks.notifications": ["EmailTask"],
    "lockgate.client": ["Client", "Secret"],
    "lockgate.utilities.exceptions": [
        "AuthorizationError",
        "ClientError",
        "CloudUnavailableError",
        "ContextError",
        "PrefectError",
        "PrefectWarning",
        "SerializationError",
    ],
    "lockgate.utilities.notifications": [
        "callback_factory",
        "default_email_from",
        "email_message_formatter",
        "gmail_notifier",
        "send_email",
        "slack_message_formatter",
        "slack_notifier",
    ],
    "lockgate.environments": ["Environment", "LocalEnvironment"],
    "lockgate.utilities.environments": ["from_file"],
}

# Written by other parts of the project right now: checked once they exist.
IN_PROGRESS = {"lockgate.tasks.control_flow"}


def _module(path: str) -> ModuleType:
    if path in IN_PROGRESS:
        module = pytest.importorskip(path, reason=f"{path} is not written yet")
        missing = SPEC[path] - set(dir(module))
        if missing == SPEC[path]:
            pytest.skip(f"{path} exists but exports none of {sorted(SPEC[path])} yet")
        return module
    return importlib.import_module(path)


@pytest.mark.parametrize("path", sorted(SPEC))
def test_spec_names_exist(path: str) -> None:
    module = _module(path)
    missing = sorted(n for n in SPEC[path] if not hasattr(module, n))
    assert not missing, f"{path} lacks SPEC §1 names {missing}"
    exported = getattr(module, "__all__", None)
    if exported is not None:
        unexported = sorted(SPEC[path] - set(exported))
        assert not unexported, f"{path}.__all__ lacks SPEC §1 names {unexported}"


@pytest.mark.parametrize("path", sorted(PINNED))
def test_all_is_pinned(path: str) -> None:
    module = _module(path)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{path} has no __all__"
    assert len(exported) == len(set(exported)), f"{path}.__all__ repeats a name"
    assert sorted(exported) == sorted(PINNED[path]), (
        f"{path}.__all__ changed: added {sorted(set(exported) - set(PINNED[path]))}, "
        f"removed {sorted(set(PINNED[path]) - set(exported))}; update PINNED if intended"
    )


@pytest.mark.parametrize("path", sorted(set(PINNED) | IN_PROGRESS))
def test_every_exported_name_resolves(path: str) -> None:
    module = _module(path)
    broken = [n for n in getattr(module, "__all__", ()) if not hasattr(module, n)]
    assert not broken, f"{path}.__all__ names missing attributes {broken}"
    namespace: dict[str, Any] = {}
    exec(f"from {path} import *", namespace)
    assert set(getattr(module, "__all__", ())) <= set(namespace)


def test_aliases() -> None:
    import lockgate
    from lockgate import triggers
    from lockgate.engine import signals
    from lockgate.utilities import tasks

    assert signals.StateSignal is signals.PrefectStateSignal
    assert triggers.always_run is triggers.all_finished
    assert triggers.never_run is triggers.manual_only
    assert lockgate.signals is signals
    assert lockgate.triggers is triggers
    assert lockgate.task is tasks.task
    assert lockgate.tags is tasks.tags
    assert lockgate.unmapped is tasks.unmapped
    assert lockgate.Task is lockgate.core.Task
    assert lockgate.Flow is lockgate.core.Flow
    assert lockgate.Parameter is lockgate.core.Parameter
    assert issubclass(signals.TRIGGERFAIL, signals.FAIL)


# Reachable as ``lockgate.<name>`` after ``import lockgate`` (as ``prefect.<name>`` is after
# ``import prefect`` in 0.5.1), imported on first use.
LAZY_TOP_LEVEL = [
    "client",
    "configuration",
    "core",
    "engine",
    "environments",
    "serialization",
    "tasks",
    "utilities",
]


@pytest.mark.parametrize("name", LAZY_TOP_LEVEL)
def test_subpackages_reachable_from_lockgate(name: str) -> None:
    import lockgate

    assert getattr(lockgate, name) is importlib.import_module(f"lockgate.{name}")
    assert name in dir(lockgate)


def test_top_level_client_and_unknown_names() -> None:
    import lockgate
    from lockgate.client import Client

    assert lockgate.Client is Client
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        lockgate.Nope  # noqa: B018


def test_engine_package_lazy_names() -> None:
    import lockgate.engine
    from lockgate.engine.flow_runner import FlowRunner
    from lockgate.engine.task_runner import TaskRunner

    assert lockgate.engine.FlowRunner is FlowRunner
    assert lockgate.engine.TaskRunner is TaskRunner
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        lockgate.engine.Nope  # noqa: B018


# Signatures a port from Prefect 0.5 relies on: the SPEC's parameters, in order, first.
SIGNATURES: dict[str, list[str]] = {
    "lockgate.core:Task.__init__": [
        "name",
        "slug",
        "tags",
        "max_retries",
        "retry_delay",
        "timeout",
        "trigger",
        "skip_on_upstream_skip",
        "cache_for",
        "cache_validator",
        "checkpoint",
        "result_handler",
        "state_handlers",
        "on_failure",
    ],
    "lockgate.core:Parameter.__init__": ["name", "default", "required"],
    "lockgate.core:Flow.__init__": [
        "name",
        "schedule",
        "tasks",
        "edges",
        "reference_tasks",
        "state_handlers",
        "on_failure",
        "validate",
        "result_handler",
        "environment",
    ],
    "lockgate.core:Flow.add_edge": ["upstream_task", "downstream_task", "key", "mapped"],
    "lockgate.core:Flow.sorted_tasks": ["root_tasks"],
    "lockgate.core:Flow.run": ["parameters"],
    "lockgate.core:Edge.__init__": ["upstream_task", "downstream_task", "key", "mapped"],
    "lockgate.engine.task_runner:TaskRunner.__init__": ["task", "state_handlers", "result_handler"],
    "lockgate.engine.task_runner:TaskRunner.run": [
        "state",
        "upstream_states",
        "context",
        "executor",
        "ignore_trigger",
    ],
    "lockgate.engine.flow_runner:FlowRunner.__init__": [
        "flow",
        "task_runner_cls",
        "state_handlers",
    ],
    "lockgate.engine.flow_runner:FlowRunner.run": [
        "state",
        "task_states",
        "return_tasks",
        "parameters",
        "task_runner_state_handlers",
        "executor",
        "context",
        "task_contexts",
        "start_tasks",
    ],
}


@pytest.mark.parametrize("target", sorted(SIGNATURES))
def test_spec_signatures(target: str) -> None:
    path, qualname = target.split(":")
    obj: Any = importlib.import_module(path)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    names = [
        p.name
        for p in inspect.signature(obj).parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    expected = SIGNATURES[target]
    assert names[: len(expected)] == expected, f"{target}{names}"


# -- importing lockgate has no side effects --------------------------------------------------------
HEAVY = {
    # optional or heavy third-party packages: imported lazily, by the part that needs them
    "dask",
    "distributed",
    "sqlalchemy",
    "typer",
    "click",
    "rich",
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic",
    "cloudpickle",
    "croniter",
    "pendulum",
    "pytz",
    "numpy",
    "pandas",
    "psutil",
    "graphviz",
    "cryptography",
    "marshmallow",
    "jinja2",
    "requests",
    # heavy standard library: introspection, event loops, processes, network
    "inspect",
    "ast",
    "dis",
    "importlib.metadata",
    "asyncio",
    "concurrent.futures",
    "multiprocessing",
    "subprocess",
    "socket",
    "ssl",
    "http.client",
    "urllib.request",
}

PROBE = textwrap.dedent(
    """
    import json, logging, signal, sys, threading, warnings

    SIGNALS = [n for n in ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGCHLD")
               if hasattr(signal, n)]

    def handlers():
        return {n: repr(signal.getsignal(getattr(signal, n))) for n in SIGNALS}

    def root():
        r = logging.getLogger()
        return {"handlers": [repr(h) for h in r.handlers], "level": r.level}

    before_modules = set(sys.modules)
    before = {
        "signals": handlers(),
        "root": root(),
        "threads": threading.active_count(),
        "excepthook": repr(sys.excepthook),
        "threading_excepthook": repr(threading.excepthook),
        "warning_filters": len(warnings.filters),
    }
    import lockgate
    after = {
        "signals": handlers(),
        "root": root(),
        "threads": threading.active_count(),
        "excepthook": repr(sys.excepthook),
        "threading_excepthook": repr(threading.excepthook),
        "warning_filters": len(warnings.filters),
    }
    new = sorted(set(sys.modules) - before_modules)
    print(json.dumps({"before": before, "after": after, "new_modules": new}))
    """
)


@pytest.fixture(scope="module")
def fresh_import() -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr  # no warnings or prints at import
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_import_pulls_in_nothing_heavy(fresh_import: dict[str, Any]) -> None:
    new = set(fresh_import["new_modules"])
    assert "lockgate" in new
    heavy = sorted(m for m in new if m in HEAVY or m.split(".")[0] in HEAVY)
    assert not heavy, f"`import lockgate` imports {heavy}; import them lazily"


def test_import_leaves_lazy_subpackages_unimported(fresh_import: dict[str, Any]) -> None:
    new = set(fresh_import["new_modules"])
    for name in ("client", "environments", "serialization", "tasks"):
        assert f"lockgate.{name}" not in new, f"`import lockgate` imports lockgate.{name}"


def test_import_adds_no_root_logger_handlers(fresh_import: dict[str, Any]) -> None:
    assert fresh_import["after"]["root"] == fresh_import["before"]["root"]


def test_import_installs_no_signal_handlers(fresh_import: dict[str, Any]) -> None:
    assert fresh_import["after"]["signals"] == fresh_import["before"]["signals"]
    assert "SIGINT" in fresh_import["after"]["signals"]


def test_import_starts_no_threads_and_changes_no_hooks(fresh_import: dict[str, Any]) -> None:
    before, after = fresh_import["before"], fresh_import["after"]
    assert after["threads"] == before["threads"]
    assert after["excepthook"] == before["excepthook"]
    assert after["threading_excepthook"] == before["threading_excepthook"]
    assert after["warning_filters"] == before["warning_filters"]

"""Branching: run one of several tasks depending on a value, and join the branches again.

Inside ``with Flow(...)``::

    from lockgate.tasks.control_flow import ifelse, merge, switch

    with Flow("branching") as flow:
        kind = detect_kind(path)
        switch(kind, {"csv": load_csv, "json": load_json, "xml": load_xml})
        data = merge(load_csv, load_json, load_xml)

``switch`` adds one small :class:`CompareValue` task per case between the condition
and the case's task. The comparison raises SKIP when the condition's value is not the
case value, so the case's task (and, by skip propagation, everything downstream of it
that keeps ``skip_on_upstream_skip=True``) ends ``Skipped``. :func:`merge` joins the
branches again: it takes the first branch that produced a value.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lockgate import triggers
from lockgate.core.task import Task
from lockgate.engine import signals
from lockgate.engine.result import NoResult
from lockgate.utilities.context import current as _current_context
from lockgate.utilities.exceptions import PrefectWarning
from lockgate.utilities.tasks import as_task, contains_task

if TYPE_CHECKING:
    from lockgate.core.flow import Flow

__all__ = ["CastBool", "CompareValue", "Merge", "ifelse", "merge", "merge_trigger", "switch"]

_NAME_LIMIT = 40


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _NAME_LIMIT else f"{text[: _NAME_LIMIT - 3]}..."


def _display_name(value: Any) -> str:
    return value.name if isinstance(value, Task) else _short_repr(value)


def _active_flow(function: str) -> Flow:
    """Return the ``with Flow(...)`` flow, or explain that ``function`` needs one.

    Raises:
        ValueError: when no flow is active.
    """
    flow: Flow | None = _current_context().get("flow")
    if flow is None:
        raise ValueError(
            f"{function}() was called outside a flow. Call it inside "
            "`with Flow('name') as flow:` so it can add its tasks to that flow."
        )
    return flow


class CompareValue(Task):
    """Succeed (returning True) when the input equals ``value``; otherwise SKIP.

    :func:`switch` puts one of these in front of every case's task.

    Args:
        value: the value the input must equal (compared with ``==``).
        **kwargs: any other :class:`~lockgate.core.task.Task` argument; ``name``
            defaults to ``case(<value>)``.
    """

    def __init__(self, value: Any, **kwargs: Any) -> None:
        self.value = value
        kwargs.setdefault("name", f"case({_short_repr(value)})")
        super().__init__(**kwargs)

    def run(self, x: Any) -> bool:
        """Compare ``x`` with the case value.

        Args:
            x: the condition's value.

        Returns:
            True when ``x == value``.

        Raises:
            SKIP: when ``x`` does not equal the case value, so this branch is skipped.
        """
        if bool(x == self.value):
            return True
        raise signals.SKIP(
            f"Condition value {_short_repr(x)} does not match case {_short_repr(self.value)}; "
            "skipping this branch."
        )


class CastBool(Task):
    """Return ``bool(x)``; :func:`ifelse` uses it so any truthy value picks the true branch.

    Args:
        **kwargs: any :class:`~lockgate.core.task.Task` argument.
    """

    def run(self, x: Any) -> bool:
        """Cast the input to bool.

        Args:
            x: any value.

        Returns:
            ``bool(x)``.
        """
        return bool(x)


def switch(condition: Any, cases: Mapping[Any, Task]) -> None:
    """Run only the task whose case value equals the condition's value.

    For each ``value: task`` pair a :class:`CompareValue` task compares the
    condition's result with ``value`` and ``task`` gets a state-only dependency on
    it. At run time every comparison but the matching one raises SKIP, so the tasks
    of the other cases are Skipped, and so is whatever depends on them (unless it sets
    ``skip_on_upstream_skip=False``, like :func:`merge`). Must be called inside
    ``with Flow(...)``.

    A case given as a list (or other collection) of tasks becomes a collection task
    (see :func:`lockgate.utilities.tasks.as_task`); only that collection task waits
    for the comparison, so the tasks in the list run whatever the condition.

    Args:
        condition: a task (or a plain value) whose result selects the case.
        cases: a mapping from case value to the task to run for that value. Each task
            may appear only once.

    Raises:
        ValueError: when called outside a flow, when ``cases`` is empty, or when one
            task is given for several cases (it would always be skipped).
        TypeError: when ``cases`` is not a mapping.

    Warns:
        PrefectWarning: when a case's task already has upstream tasks in the flow:
            those run whatever the condition's value (a list of tasks as a case is the
            usual cause).
    """
    flow = _active_flow("switch")
    if not isinstance(cases, Mapping):
        raise TypeError(
            f"switch(condition, cases): cases must be a mapping from value to task, "
            f"got {type(cases).__name__}."
        )
    if not cases:
        raise ValueError("switch(condition, cases): cases is empty; give at least one case.")
    seen: dict[Task, Any] = {}
    branches = {
        value: _branch_task(branch, f"switch(): the case {_short_repr(value)}", flow)
        for value, branch in cases.items()
    }
    for value, branch in branches.items():
        if branch in seen:
            raise ValueError(
                f"switch(): task '{branch.name}' is given for both case "
                f"{_short_repr(seen[branch])} and case {_short_repr(value)}; it would depend "
                "on both comparisons and always be skipped. Use one task per case."
            )
        seen[branch] = value
        if flow._edges_to.get(branch):
            warnings.warn(
                f"switch(): the task for case {_short_repr(value)}, '{branch.name}', has "
                "upstream dependencies; those upstream tasks run even when the condition "
                "does not match this case, which may be unexpected (a list of tasks as a "
                "case is the usual cause).",
                PrefectWarning,
                stacklevel=2,
            )
    for value, branch in branches.items():
        compare = CompareValue(value)
        compare.bind(x=condition, flow=flow)
        branch.set_upstream(compare, flow=flow)


def ifelse(condition: Any, true_task: Task, false_task: Task) -> None:
    """Run ``true_task`` when the condition is truthy, else ``false_task``.

    The condition's result is cast with ``bool()`` (so ``1``, ``"x"`` and ``[0]`` pick
    the true branch and ``0``, ``""`` and ``[]`` the false one), then :func:`switch`
    is called with ``{True: true_task, False: false_task}``. The branch not taken is
    Skipped. Must be called inside ``with Flow(...)``.

    Args:
        condition: a task (or a plain value) whose result is tested for truth.
        true_task: the task to run when the condition is truthy (a list of tasks
            becomes a collection task, as in :func:`switch`).
        false_task: the task to run when it is falsy.

    Raises:
        ValueError: when called outside a flow, or when ``true_task`` and
            ``false_task`` are the same task.

    Warns:
        PrefectWarning: as :func:`switch`, for a branch task with upstream tasks.
    """
    flow = _active_flow("ifelse")
    true_task = _branch_task(true_task, "ifelse(): true_task", flow)
    false_task = _branch_task(false_task, "ifelse(): false_task", flow)
    if true_task is false_task:
        raise ValueError(
            f"ifelse(): true_task and false_task are the same task '{true_task.name}'; "
            "it would always be skipped. Give two different tasks."
        )
    as_bool = CastBool(name=f"bool({_display_name(condition)})")
    as_bool.bind(x=condition, flow=flow)
    switch(as_bool, {True: true_task, False: false_task})


def _branch_task(branch: Any, what: str, flow: Flow) -> Task:
    """A task, or a collection holding tasks as a collection task; nothing else.

    Raises:
        TypeError: naming ``what`` for a plain value or a function.
    """
    if isinstance(branch, Task):
        return branch
    if contains_task(branch):
        return as_task(branch, flow=flow)
    raise TypeError(
        f"{what} maps to {branch!r}, which is not a task: a branch must be a task (wrap "
        "functions with @task) or a list of tasks."
    )


def _input_order(key: str) -> tuple[int, int, str]:
    """Sort ``task_1, task_2, ..., task_10`` numerically; any other key after them."""
    prefix, _, number = key.rpartition("_")
    if prefix == "task" and number.isdigit():
        return (0, int(number), "")
    return (1, 0, key)


def merge_trigger(upstream_states: Any) -> bool:
    """``not_all_skipped``, except that a failed branch fails the merge.

    Without this, the merge of a failed branch would return that branch's exception
    as a successful value and hide the failure from the flow's final state.

    Raises:
        TRIGGERFAIL: when any branch failed.
        SKIP: when every branch was skipped.
    """
    failed = [s for s in triggers.states_of(upstream_states) if s.is_failed()]
    if failed:
        raise signals.TRIGGERFAIL(f"{len(failed)} merged branch(es) failed; nothing to merge.")
    return triggers.not_all_skipped(upstream_states)


class Merge(Task):
    """Join branches: return the first input that carries a value.

    Inputs are taken in argument order (``task_1``, ``task_2``, ...). An input is
    passed over when it is ``NoResult`` (a task Skipped by skip propagation) or a
    :class:`~lockgate.engine.signals.SKIP` signal (a task that raised SKIP itself).
    The trigger defaults to :func:`merge_trigger`, so Merge is Skipped only when
    every branch was skipped and TriggerFailed when a branch failed;
    ``skip_on_upstream_skip`` defaults to False. Usually built by :func:`merge`.

    Args:
        **kwargs: any :class:`~lockgate.core.task.Task` argument.

    Raises:
        ValueError: for ``skip_on_upstream_skip=True``.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trigger", merge_trigger)
        if kwargs.setdefault("skip_on_upstream_skip", False):
            raise ValueError(
                "Merge tasks must have `skip_on_upstream_skip=False`: a merge runs "
                "precisely when some of its branches were skipped."
            )
        super().__init__(**kwargs)

    def run(self, **task_results: Any) -> Any:
        """Pick the first input, in argument order, that carries a value.

        Args:
            **task_results: the branch results, keyed ``task_1``, ``task_2``, ...

        Returns:
            The first result that is neither ``NoResult`` nor a SKIP signal, or None
            when there is none.
        """
        for key in sorted(task_results, key=_input_order):
            value = task_results[key]
            if value is NoResult or isinstance(value, signals.SKIP):
                continue
            return value
        return None


def merge(*tasks: Any) -> Merge:
    """Join the branches of a :func:`switch` or :func:`ifelse` into one task.

    The returned :class:`Merge` task's result is the result of the first of
    ``tasks``, in argument order, that was not skipped. It is Skipped only when every
    one of ``tasks`` was skipped. Must be called inside ``with Flow(...)``.

    Args:
        *tasks: the branch tasks (usually the last task of each branch).

    Returns:
        The Merge task, bound in the active flow with inputs ``task_1``, ``task_2``, ...

    Raises:
        ValueError: when called outside a flow, or with no tasks.
    """
    flow = _active_flow("merge")
    if not tasks:
        raise ValueError("merge() needs at least one task to merge.")
    merged = Merge()
    merged.bind(flow=flow, **{f"task_{i}": t for i, t in enumerate(tasks, start=1)})
    return merged

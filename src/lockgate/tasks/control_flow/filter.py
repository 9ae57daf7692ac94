"""FilterTask: keep only the results you want from a list of results, e.g. a map's.

After a mapped task some children may have failed (their result is the exception) or
been skipped (no result at all). A FilterTask downstream of it runs anyway (trigger
``all_finished``, no skip propagation) and drops those by default::

    from lockgate.tasks.control_flow import FilterTask

    keep_good = FilterTask()

    with Flow("clean") as flow:
        parsed = parse.map(files)
        good = keep_good(parsed)          # only the successful children's results
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from lockgate import triggers
from lockgate.core.task import Task
from lockgate.engine import signals
from lockgate.engine.result import NoResult
from lockgate.utilities.context import current as _current_context
from lockgate.utilities.tasks import contains_task

if TYPE_CHECKING:
    from lockgate.core.flow import Flow

__all__ = ["FilterTask", "keep_result"]


def keep_result(result: Any) -> bool:
    """The default filter of :class:`FilterTask`: keep real values only.

    Args:
        result: one upstream result.

    Returns:
        False for ``NoResult`` (a skipped or result-less run) and for exceptions (a
        failed run, or a signal such as SKIP), True for anything else, None included.
    """
    return result is not NoResult and not isinstance(result, BaseException)


class FilterTask(Task):
    """Return the items of its input list for which ``filter_func`` is true.

    The trigger defaults to :func:`~lockgate.triggers.all_finished` and
    ``skip_on_upstream_skip`` to False, so the task runs after failed or skipped
    upstream runs too; pass ``trigger=`` or ``skip_on_upstream_skip=`` to change that.

    Args:
        filter_func: a callable ``filter_func(result) -> bool`` choosing the results to
            keep; the default :func:`keep_result` drops ``NoResult`` and exceptions.
        **task_kwargs: any other :class:`~lockgate.core.task.Task` argument.

    Raises:
        TypeError: when ``filter_func`` is given and is not callable.
    """

    def __init__(
        self, filter_func: Callable[[Any], bool] | None = None, **task_kwargs: Any
    ) -> None:
        if filter_func is not None and not callable(filter_func):
            raise TypeError(
                f"FilterTask: filter_func must be callable, like `lambda r: r is not None`; "
                f"got {filter_func!r}."
            )
        self.filter_func: Callable[[Any], bool] = filter_func or keep_result
        task_kwargs.setdefault("trigger", triggers.all_finished)
        task_kwargs.setdefault("skip_on_upstream_skip", False)
        super().__init__(**task_kwargs)

    def bind(
        self,
        *args: Any,
        mapped: bool = False,
        upstream_tasks: Iterable[Any] | None = None,
        flow: Flow | None = None,
        **kwargs: Any,
    ) -> Task:
        """Bind ``task_results`` in the active flow (see :meth:`Task.bind`).

        A list or tuple holding tasks, as in ``FilterTask()([a, b, c])``, is gathered
        by a :class:`~lockgate.tasks.core.collections.List` task that, like this one,
        runs once its inputs are finished whatever their outcome, so a failed or
        skipped element reaches the filter instead of failing the whole list.

        Args:
            *args: ``task_results`` by position.
            mapped: map over the inputs (the list is then left as given).
            upstream_tasks: tasks that must finish first without passing a value.
            flow: the flow to bind into (default: the ``with Flow(...)`` block).
            **kwargs: ``task_results`` by name.

        Returns:
            This task.

        Raises:
            ValueError: when there is no active flow and none is given.
            TypeError: when the arguments do not fit ``run(task_results)``.
        """
        value: Any = None
        positional = len(args) == 1 and "task_results" not in kwargs
        if positional:
            value = args[0]
        elif not args:
            value = kwargs.get("task_results")
        in_flow = flow is not None or _current_context().get("flow") is not None
        if in_flow and not mapped and type(value) in (list, tuple) and contains_task(value):
            from lockgate.tasks.core.collections import List

            gathered = List(trigger=triggers.all_finished, skip_on_upstream_skip=False)
            gathered.bind(flow=flow, **{f"item_{i}": v for i, v in enumerate(value)})
            if positional:
                args = (gathered,)
            else:
                kwargs["task_results"] = gathered
        return super().bind(
            *args, mapped=mapped, upstream_tasks=upstream_tasks, flow=flow, **kwargs
        )

    def run(self, task_results: Any) -> list[Any]:
        """Filter the results.

        Args:
            task_results: the results to filter, usually a mapped task's list of child
                results. An upstream that was skipped (its result is ``NoResult`` or
                the SKIP signal it raised) counts as an empty list.

        Returns:
            ``[r for r in task_results if filter_func(r)]``, in the input order.

        Raises:
            FAIL: when ``task_results`` is an exception, i.e. the upstream task failed
                as a whole instead of giving a list.
            TypeError: when ``task_results`` is not iterable.
        """
        if task_results is NoResult or isinstance(task_results, signals.SKIP):
            return []
        if isinstance(task_results, BaseException):
            raise signals.FAIL(
                f"FilterTask '{self.name}' got the error {task_results!r} instead of a list "
                "of results: its upstream task failed as a whole."
            )
        try:
            items = iter(task_results)
        except TypeError:
            raise TypeError(
                f"FilterTask '{self.name}' needs a list of results (e.g. a mapped task's), "
                f"got a {type(task_results).__name__}."
            ) from None
        keep = self.filter_func
        return [r for r in items if keep(r)]

"""Tasks: the units of work a flow runs.

Subclass :class:`Task` and implement ``run``, or decorate a function with
:func:`lockgate.task`. Inside ``with Flow(...)``, calling a task copies it and binds
its inputs (the functional API); outside, wire tasks with ``flow.add_edge`` and
``flow.set_dependencies`` (the imperative API).
"""

from __future__ import annotations

import copy
import copyreg
import logging
import os
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from lockgate.configuration import config as _config
from lockgate.utilities.context import current as _current_context

if TYPE_CHECKING:
    from lockgate.core.flow import Flow
    from lockgate.engine.cache_validators import CacheValidator
    from lockgate.engine.result_handlers import ResultHandler
    from lockgate.engine.retries import RetryDelay
    from lockgate.engine.state import State

__all__ = ["RESERVED_ARGUMENTS", "OnFailureHandler", "Parameter", "Task"]

_log = logging.getLogger(__name__)

RESERVED_ARGUMENTS = frozenset({"upstream_tasks", "mapped", "task_args", "flow"})
"""Names ``run`` may not use: the functional API takes them as its own keywords."""

_CO_VARARGS = 0x04
_CO_VARKEYWORDS = 0x08


class OnFailureHandler:
    """The state handler that ``on_failure`` becomes, on a task or a flow.

    ``Task(on_failure=fn)`` and ``Flow(on_failure=fn)`` append one to their
    ``state_handlers`` (as Prefect 0.5.1 does): for every state change into a failed
    state it calls ``fn(task_or_flow, state)``. What ``fn`` raises is logged and
    ignored, so a broken alert never changes the run; it reaches the caller only when
    the run is made with ``raise_on_exception``. The handler returns the state it was
    given. It is written under ``fn``'s name when serialized.

    Args:
        on_failure: ``fn(task_or_flow, state)``, for its side effect (an alert, say).
    """

    def __init__(self, on_failure: Callable[[Any, State], Any]) -> None:
        self.on_failure: Callable[[Any, State], Any] = on_failure
        """The callable given."""
        # Serialization writes callables by name: this one under its function's name.
        self.__module__ = getattr(on_failure, "__module__", None) or type(on_failure).__module__
        self.__qualname__ = (
            getattr(on_failure, "__qualname__", None) or type(on_failure).__qualname__
        )

    def __call__(self, subject: Any, old_state: State, new_state: State) -> State:
        """Report a failed ``new_state`` to ``on_failure``; return ``new_state``."""
        if new_state.is_failed():
            try:
                self.on_failure(subject, new_state)
            except Exception:
                if _current_context().get("raise_on_exception"):
                    raise
                _log.exception("on_failure of %r raised; ignored", subject)
        return new_state

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OnFailureHandler) and bool(other.on_failure == self.on_failure)

    def __hash__(self) -> int:
        return hash(self.on_failure)

    def __repr__(self) -> str:
        return f"OnFailureHandler({self.on_failure!r})"

    @staticmethod
    def attach(handlers: list[Any], on_failure: Callable[[Any, State], Any] | None) -> None:
        """Append the handler for ``on_failure`` to ``handlers``, once.

        A list that already holds ``on_failure`` (or its handler), as one built from a
        copied or serialized task or flow does, is not given a second one.

        Args:
            handlers: the state handlers of a task or flow (changed in place).
            on_failure: the callable, or None (then nothing changes).

        """
        if on_failure is None:
            return
        handler = OnFailureHandler(on_failure)
        handlers[:] = [h for h in handlers if not (h is on_failure or h == handler)]
        handlers.append(handler)


_spare_ids: list[str] = []
"""Task ids drawn from the OS in one read and not handed out yet (see new_task_id)."""
_ID_BATCH = 256
if hasattr(os, "register_at_fork"):  # a forked process must not hand out its parent's ids
    os.register_at_fork(after_in_child=_spare_ids.clear)


def new_task_id() -> str:
    """A random UUID string (version 4), as ``str(uuid.uuid4())`` makes.

    Drawn from ``os.urandom`` 256 at a time: a flow of N tasks needs N ids, and one system
    call and one ``uuid.UUID`` object per id cost more than the rest of reading one.

    Returns:
        The id, e.g. ``'0b0d6e4e-5cd1-4a9a-9d5e-3f8c2f6e1b7a'``.
    """
    try:
        return _spare_ids.pop()
    except IndexError:  # none left (another thread may have taken the last): draw more
        raw = os.urandom(16 * _ID_BATCH)
        ids = []
        for i in range(0, len(raw), 16):
            n = int.from_bytes(raw[i : i + 16], "big")
            # The version (4) and variant (RFC 4122) bits, as uuid.UUID(version=4) sets them.
            n = (n & ~(0xF000 << 64) | (4 << 76)) & ~(0xC000 << 48) | (0x8000 << 48)
            h = f"{n:032x}"
            ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
        new = ids.pop()
        _spare_ids.extend(ids)
        return new


def checked_uuid(value: Any, owner: str) -> str:
    """Return ``value`` if it is a UUID string (what task and flow ids are).

    Args:
        value: the proposed id.
        owner: who gets it, for the message.

    Returns:
        ``value``.

    Raises:
        ValueError: when ``value`` is not a string holding a UUID.
    """
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        raise ValueError(
            f"{owner}: an id must be a UUID string like {str(uuid.uuid4())!r}, not {value!r}."
        ) from None
    return str(value)


class RunSignature(NamedTuple):
    """What the engine needs to know about a ``run`` method."""

    names: tuple[str, ...]
    """Named arguments in order (``self`` excluded)."""
    required: frozenset[str]
    """Arguments without a default."""
    var_keyword: bool
    """Whether ``run`` accepts ``**kwargs`` (any key is then a valid input)."""


def run_signature(fn: Callable[..., Any], owner: str, skip_first: bool) -> RunSignature:
    """Read ``fn``'s arguments and refuse what a task's ``run`` may not have.

    Args:
        fn: the ``run`` function (or the function given to ``@task``).
        owner: the task or class name, repeated in errors.
        skip_first: drop the first argument (``self`` of a method).

    Raises:
        ValueError: when ``fn`` takes ``*args`` or uses a reserved argument name.
    """
    # A decorated run (functools.wraps, e.g. defaults_from_attrs) is read through to the
    # function it wraps: the wrapper's own (*args, **kwargs) says nothing about the inputs.
    wrapped = getattr(fn, "__wrapped__", None)
    while wrapped is not None:
        fn, wrapped = wrapped, getattr(wrapped, "__wrapped__", None)
    code = getattr(fn, "__code__", None)
    if code is not None:
        count = code.co_argcount + code.co_kwonlyargcount
        names = list(code.co_varnames[:count])
        has_varargs = bool(code.co_flags & _CO_VARARGS)
        var_keyword = bool(code.co_flags & _CO_VARKEYWORDS)
        n_defaults = len(getattr(fn, "__defaults__", None) or ())
        kw_defaults = getattr(fn, "__kwdefaults__", None) or {}
        positional = names[: code.co_argcount]
        required = set(positional[: len(positional) - n_defaults])
        required |= {n for n in names[code.co_argcount :] if n not in kw_defaults}
    else:  # builtins, partials and other callables: fall back to inspect (slow, rare)
        import inspect

        params = list(inspect.signature(fn).parameters.values())
        names = [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        has_varargs = any(p.kind is p.VAR_POSITIONAL for p in params)
        var_keyword = any(p.kind is p.VAR_KEYWORD for p in params)
        required = {p.name for p in params if p.default is p.empty and p.name in names}
    if skip_first and names:
        required.discard(names[0])
        names = names[1:]
    if has_varargs:
        raise ValueError(
            f"{owner}.run() takes *args, which a task cannot: every input is bound by name. "
            "Use named arguments (or **kwargs)."
        )
    reserved = RESERVED_ARGUMENTS.intersection(names)
    if reserved:
        raise ValueError(
            f"{owner}.run() uses the reserved argument name(s) {sorted(reserved)}; "
            f"rename them: {sorted(RESERVED_ARGUMENTS)} are keywords of the functional API."
        )
    return RunSignature(tuple(names), frozenset(required), var_keyword)


class Task:
    """A unit of work. Subclasses implement ``run(**inputs)``.

    Args:
        name: a display name (defaults to the class name).
        slug: a unique identifier within a flow (defaults to ``name-N``).
        tags: labels for the task; ``with lockgate.tags(...)`` adds more.
        max_retries: how many times to retry after a failure (default: the setting
            ``tasks.defaults.max_retries``, 0 unless you change it).
        retry_delay: a ``timedelta`` or an
            :class:`~lockgate.engine.retries.ExponentialBackoff`; required when
            ``max_retries > 0`` (default: the setting ``tasks.defaults.retry_delay``).
        timeout: seconds the task may run before it ends ``TimedOut`` (default: the
            setting ``tasks.defaults.timeout``, none unless you change it).
        trigger: decides from upstream states whether the task runs (default
            :func:`~lockgate.triggers.all_successful`).
        skip_on_upstream_skip: skip this task when any upstream was skipped, without
            consulting the trigger.
        cache_for: how long a successful result may be reused.
        cache_validator: decides whether a cached result is still valid (default
            ``duration_only`` with ``cache_for``, ``never_use`` without).
        checkpoint: store the result through ``result_handler`` when the task succeeds
            (default: the setting ``tasks.defaults.checkpoint`` when it is set; else
            None, with which the run store keeps the result; False keeps it nowhere).
        result_handler: how to store results of this task.
        state_handlers: callables ``handler(task, old_state, new_state)`` run on every
            state change; one may return a replacement state.
        on_failure: a callable ``on_failure(task, state)`` run for every failed state;
            it becomes an :class:`OnFailureHandler` appended to ``state_handlers``.

    Raises:
        ValueError: for ``max_retries > 0`` without ``retry_delay``, a negative
            ``max_retries`` or a non-positive ``timeout``.
        TypeError: for a trigger, handler or ``on_failure`` that is not callable, or a
            ``cache_for`` that is not a ``timedelta``.
    """

    run_signature: RunSignature

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "run" in cls.__dict__:
            cls.run_signature = run_signature(cls.__dict__["run"], cls.__name__, skip_first=True)

    def __init__(
        self,
        name: str | None = None,
        slug: str | None = None,
        tags: Iterable[str] | None = None,
        max_retries: int | None = None,
        retry_delay: timedelta | RetryDelay | None = None,
        timeout: float | None = None,
        trigger: Callable[[Any], bool] | None = None,
        skip_on_upstream_skip: bool = True,
        cache_for: timedelta | None = None,
        cache_validator: CacheValidator | None = None,
        checkpoint: bool | None = None,
        result_handler: ResultHandler | None = None,
        state_handlers: Iterable[Callable[[Task, State, State], State | None]] | None = None,
        on_failure: Callable[[Task, State], None] | None = None,
    ) -> None:
        from lockgate import triggers
        from lockgate.engine import cache_validators

        self.name: str = type(self).__name__ if name is None else name
        # The id (a UUID string, for serialized flows) is drawn when first read: most
        # tasks of a big flow are never serialized, and uuid4 is a system call.
        self._id: str | None = None
        self.slug = slug
        owner = f"Task '{self.name}'"
        if isinstance(tags, str):
            raise TypeError(
                f"{owner}: tags must be a collection of strings, e.g. tags=[{tags!r}]; "
                f"got the string {tags!r}."
            )
        self.tags: set[str] = set(tags or ()) | set(_current_context().get("tags", ()))
        # Arguments not given come from the settings ([tasks.defaults]).
        defaults = _config.get_nested("tasks.defaults") or {}
        retries_note = (
            " (from the setting tasks.defaults.max_retries)" if max_retries is None else ""
        )
        if max_retries is None:
            max_retries = defaults.get("max_retries") or 0
        if retry_delay is None:
            retry_delay = defaults.get("retry_delay")
        if timeout is None and defaults.get("timeout") is not None:
            default_timeout = defaults["timeout"]
            timeout = (
                default_timeout.total_seconds()
                if isinstance(default_timeout, timedelta)
                else default_timeout
            )
        if checkpoint is None:
            checkpoint = defaults.get("checkpoint")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(
                f"{owner}: max_retries must be a whole number >= 0, not {max_retries!r}."
            )
        if max_retries > 0 and retry_delay is None:
            raise ValueError(
                f"{owner}: max_retries={max_retries}{retries_note} needs a retry_delay, "
                "e.g. retry_delay=timedelta(seconds=10)."
            )
        if retry_delay is not None and not (
            isinstance(retry_delay, timedelta) or hasattr(retry_delay, "delay_for")
        ):
            raise TypeError(
                f"{owner}: retry_delay must be a timedelta or an ExponentialBackoff, "
                f"not {type(retry_delay).__name__}."
            )
        if isinstance(retry_delay, timedelta) and retry_delay < timedelta(0):
            raise ValueError(f"{owner}: retry_delay cannot be negative, got {retry_delay!r}.")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
        ):
            raise ValueError(
                f"{owner}: timeout must be a positive number of seconds, not {timeout!r}."
            )
        if trigger is not None and not callable(trigger):
            raise TypeError(
                f"{owner}: trigger must be callable, like lockgate.triggers.all_successful; "
                f"got {trigger!r}."
            )
        if cache_for is not None and not isinstance(cache_for, timedelta):
            raise TypeError(
                f"{owner}: cache_for must be a timedelta, not {type(cache_for).__name__}."
            )
        if state_handlers is not None and (
            callable(state_handlers) or not isinstance(state_handlers, Iterable)
        ):
            raise TypeError(
                f"{owner}: state_handlers must be a list of callables, "
                f"e.g. state_handlers=[handler]; got {state_handlers!r}."
            )
        if cache_validator is not None and cache_for is None:
            warnings.warn(
                f"{owner}: cache_validator is set but cache_for is not; the Task will not "
                "be cached. Give cache_for=timedelta(...) to cache its results.",
                UserWarning,
                stacklevel=2,
            )
        handlers = list(state_handlers or ())
        for handler in handlers:
            if not callable(handler):
                raise TypeError(f"{owner}: state handler {handler!r} is not callable.")
        if on_failure is not None and not callable(on_failure):
            raise TypeError(f"{owner}: on_failure must be callable, got {on_failure!r}.")

        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.timeout = timeout
        self.trigger: Callable[[Any], bool] = trigger or triggers.all_successful
        self.skip_on_upstream_skip = skip_on_upstream_skip
        self.cache_for = cache_for
        self.cache_validator: CacheValidator = cache_validator or (
            cache_validators.duration_only if cache_for is not None else cache_validators.never_use
        )
        self.checkpoint = checkpoint
        self.result_handler = result_handler
        self.state_handlers: list[Callable[[Task, State, State], State | None]] = handlers
        self.on_failure = on_failure

    def __repr__(self) -> str:
        return f"<Task: {self.name}>"

    def serialize(self) -> dict[str, Any]:
        """A JSON-compatible description of the task (see ``docs/serialization.md``).

        Returns:
            The task's settings, inputs and callables by name, as
            :class:`~lockgate.serialization.task.TaskSchema` writes them.
        """
        from lockgate.serialization.task import TaskSchema

        serialized: dict[str, Any] = TaskSchema().dump(self)
        return serialized

    # == stays identity (the default); operators below build new tasks instead.
    __hash__ = object.__hash__

    @property
    def on_failure(self) -> Callable[[Task, State], Any] | None:
        """``fn(task, state)`` called for every failed state, or None.

        Setting it (in ``Task(...)``, ``task_args`` or later) puts an
        :class:`OnFailureHandler` for it in ``state_handlers``, in place of the one for
        the callable it replaces.
        """
        return self._on_failure

    @on_failure.setter
    def on_failure(self, fn: Callable[[Task, State], Any] | None) -> None:
        previous = getattr(self, "_on_failure", None)
        if previous is not None:
            self.state_handlers = [
                h
                for h in self.state_handlers
                if not (isinstance(h, OnFailureHandler) and h.on_failure is previous)
            ]
        OnFailureHandler.attach(self.state_handlers, fn)
        self._on_failure = fn

    @property
    def id(self) -> str:
        """The task's unique id, a UUID string (new for every task and every copy)."""
        tid = self._id
        if tid is None:
            tid = self._id = new_task_id()
        return tid

    @id.setter
    def id(self, value: str) -> None:
        self._id = checked_uuid(value, f"Task '{self.name}'")

    def __getstate__(self) -> Any:
        # A pickled or copy.copy'd task is the same task: fix its id before it is shared.
        if self.__dict__.get("_id", "") is None:
            self._id = new_task_id()
        parent = getattr(super(), "__getstate__", None)  # object.__getstate__ is 3.11+
        if parent is not None:
            return parent()
        names = copyreg._slotnames(type(self))  # type: ignore[attr-defined]
        slots = {n: getattr(self, n) for n in names if hasattr(self, n)}
        return (self.__dict__, slots) if slots else self.__dict__

    @property
    def logger(self) -> logging.Logger:
        """This task's logger, ``lockgate.task.<name>`` (what ``lockgate.context.logger`` is
        while it runs)."""
        return logging.getLogger(f"lockgate.task.{self.name}")

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """The work itself; subclasses override it with named arguments (never ``*args``).

        A plain ``Task()`` does nothing: it succeeds with the result ``None``, which
        makes it a placeholder that only orders other tasks.

        Args:
            *args: what a subclass's ``run`` takes (a plain Task takes no input).
            **kwargs: likewise.

        Returns:
            None.
        """
        return None

    # -- copying and binding ----------------------------------------------------------
    def copy(self, **task_args: Any) -> Task:
        """Return a shallow copy, with ``task_args`` replacing attributes.

        Raises:
            AttributeError: when a key of ``task_args`` is not an attribute of the task.
        """
        active: Flow | None = _current_context().get("flow")
        if active is not None and (active._has_edges(self) or self in active.constants):
            warnings.warn(
                f"Task '{self.name}' has dependencies in the active flow '{active.name}', "
                "and its copy has none of them: bind the copy's inputs anew.",
                UserWarning,
                stacklevel=2,
            )
        new = _shallow_copy(self)
        new._id = None  # a copy is another task, in a serialized flow too (drawn when read)
        new.tags = set(self.tags)
        block_tags = _current_context().get("tags")
        if block_tags:
            new.tags |= set(block_tags)
        new.state_handlers = list(self.state_handlers)
        for attr, value in task_args.items():
            if not hasattr(new, attr):
                raise AttributeError(
                    f"task_args: Task '{self.name}' has no attribute {attr!r} to override."
                )
            if attr == "tags":  # tags are added to, as `with lockgate.tags(...)` does
                if isinstance(value, str):
                    raise TypeError(
                        f"task_args: tags must be a collection of strings, e.g. [{value!r}]."
                    )
                value = new.tags | set(value)
            setattr(new, attr, value)
        return new

    def __call__(
        self,
        *args: Any,
        mapped: bool = False,
        task_args: Mapping[str, Any] | None = None,
        upstream_tasks: Iterable[Any] | None = None,
        flow: Flow | None = None,
        **kwargs: Any,
    ) -> Task:
        """Copy this task into the active flow and bind its inputs (functional API).

        Args:
            *args: inputs bound to ``run``'s arguments in order.
            mapped: map over every input not wrapped in :func:`~lockgate.unmapped`.
            task_args: attributes of the copy to override, e.g. ``{"name": "b"}``.
            upstream_tasks: tasks that must finish first without passing a value.
            flow: the flow to bind into (default: the ``with Flow(...)`` block).
            **kwargs: inputs bound by name.

        Returns:
            The new, bound copy.
        """
        new = self.copy(**(task_args or {}))
        new.bind(*args, mapped=mapped, upstream_tasks=upstream_tasks, flow=flow, **kwargs)
        return new

    def bind(
        self,
        *args: Any,
        mapped: bool = False,
        upstream_tasks: Iterable[Any] | None = None,
        flow: Flow | None = None,
        **kwargs: Any,
    ) -> Task:
        """Bind inputs to this very task (no copy) in the active flow.

        Raises:
            ValueError: when there is no active flow and none is given.
            TypeError: when arguments do not fit ``run``'s signature.
        """
        flow = _active_flow(flow, self, "was called")
        sig = self.run_signature
        if len(args) > len(sig.names):
            raise TypeError(
                f"Task '{self.name}' takes {len(sig.names)} input(s) "
                f"({', '.join(sig.names) or 'none'}) but {len(args)} were given."
            )
        inputs = dict(zip(sig.names, args))
        for key, value in kwargs.items():
            if key in inputs:
                raise TypeError(f"Task '{self.name}' got two values for input {key!r}.")
            inputs[key] = value
        if not sig.var_keyword:
            for key in inputs:
                if key not in sig.names:
                    raise TypeError(
                        f"Task '{self.name}' has no run() argument named {key!r}; "
                        f"its arguments are: {', '.join(sig.names) or '(none)'}."
                    )
        missing = [n for n in sig.names if n in sig.required and n not in inputs]
        if missing:
            raise TypeError(
                f"Task '{self.name}' needs a value for its run() argument(s) "
                f"{', '.join(map(repr, missing))}; pass them when calling the task."
            )
        tags = _current_context().get("tags")
        if tags:
            self.tags |= set(tags)
        flow.set_dependencies(
            self, upstream_tasks=upstream_tasks, keyword_tasks=inputs, mapped=mapped
        )
        return self

    def map(
        self,
        *args: Any,
        upstream_tasks: Iterable[Any] | None = None,
        flow: Flow | None = None,
        **kwargs: Any,
    ) -> Task:
        """Copy this task and map it over its inputs: one child run per item.

        Inputs wrapped in :func:`~lockgate.unmapped` are passed whole to every child.
        """
        return self(*args, mapped=True, upstream_tasks=upstream_tasks, flow=flow, **kwargs)

    # -- dependencies ------------------------------------------------------------------
    def set_dependencies(
        self,
        flow: Flow | None = None,
        upstream_tasks: Iterable[Any] | None = None,
        downstream_tasks: Iterable[Task] | None = None,
        keyword_tasks: Mapping[str, Any] | None = None,
        mapped: bool = False,
    ) -> None:
        """Add dependencies of this task to ``flow`` (see :meth:`Flow.set_dependencies`)."""
        _active_flow(flow, self).set_dependencies(
            self,
            upstream_tasks=upstream_tasks,
            downstream_tasks=downstream_tasks,
            keyword_tasks=keyword_tasks,
            mapped=mapped,
        )

    def set_upstream(
        self, task: Any, flow: Flow | None = None, key: str | None = None, mapped: bool = False
    ) -> None:
        """Make ``task`` run before this one (passing its result as ``key`` if given)."""
        if key is None:
            self.set_dependencies(flow=flow, upstream_tasks=[task], mapped=mapped)
        else:
            self.set_dependencies(flow=flow, keyword_tasks={key: task}, mapped=mapped)

    def set_downstream(
        self, task: Task, flow: Flow | None = None, key: str | None = None, mapped: bool = False
    ) -> None:
        """Make ``task`` run after this one (receiving its result as ``key`` if given)."""
        task.set_upstream(self, flow=flow, key=key, mapped=mapped)

    def inputs(self) -> dict[str, dict[str, Any]]:
        """Describe ``run``'s inputs.

        Returns:
            ``{name: {"type": annotation, "required": bool, "default": value}}`` in
            argument order; ``type`` is ``Any`` without an annotation and ``default``
            is None for a required argument.
        """
        import inspect

        annotations = getattr(self.run, "__annotations__", {})
        try:
            parameters = inspect.signature(self.run).parameters
        except (TypeError, ValueError):  # a callable inspect cannot read
            parameters = {}  # type: ignore[assignment]
        sig = self.run_signature
        described = {}
        for name in sig.names:
            default = parameters[name].default if name in parameters else inspect.Parameter.empty
            described[name] = {
                "type": annotations.get(name, Any),
                "required": name in sig.required,
                "default": None if default is inspect.Parameter.empty else default,
            }
        return described

    def outputs(self) -> Any:
        """The return annotation of ``run`` (``Any`` when there is none)."""
        return getattr(self.run, "__annotations__", {}).get("return", Any)

    # -- operators: each builds a new task in the active flow --------------------------
    def _op(self, name: str, *args: Any) -> Task:
        from lockgate.tasks.core import operators

        op: Task = getattr(operators, name)()
        return op.bind(*args)

    def __iter__(self) -> Iterator[Any]:
        raise TypeError(
            f"Task '{self.name}' is not iterable; use t[i] to get one item as a new task."
        )

    def __getitem__(self, key: Any) -> Task:
        return self._op("GetItem", self, key)

    def __add__(self, other: Any) -> Task:
        return self._op("Add", self, other)

    def __radd__(self, other: Any) -> Task:
        return self._op("Add", other, self)

    def __sub__(self, other: Any) -> Task:
        return self._op("Sub", self, other)

    def __rsub__(self, other: Any) -> Task:
        return self._op("Sub", other, self)

    def __mul__(self, other: Any) -> Task:
        return self._op("Mul", self, other)

    def __rmul__(self, other: Any) -> Task:
        return self._op("Mul", other, self)

    def __truediv__(self, other: Any) -> Task:
        return self._op("Div", self, other)

    def __rtruediv__(self, other: Any) -> Task:
        return self._op("Div", other, self)

    def __floordiv__(self, other: Any) -> Task:
        return self._op("FloorDiv", self, other)

    def __rfloordiv__(self, other: Any) -> Task:
        return self._op("FloorDiv", other, self)

    def __mod__(self, other: Any) -> Task:
        return self._op("Mod", self, other)

    def __rmod__(self, other: Any) -> Task:
        return self._op("Mod", other, self)

    def __pow__(self, other: Any) -> Task:
        return self._op("Pow", self, other)

    def __rpow__(self, other: Any) -> Task:
        return self._op("Pow", other, self)

    def __and__(self, other: Any) -> Task:
        return self._op("And", self, other)

    def __rand__(self, other: Any) -> Task:
        return self._op("And", other, self)

    def __gt__(self, other: Any) -> Task:
        return self._op("GreaterThan", self, other)

    def __ge__(self, other: Any) -> Task:
        return self._op("GreaterThanOrEqual", self, other)

    def __lt__(self, other: Any) -> Task:
        return self._op("LessThan", self, other)

    def __le__(self, other: Any) -> Task:
        return self._op("LessThanOrEqual", self, other)

    def is_equal(self, other: Any) -> Task:
        """A task returning ``self == other`` (``==`` itself compares task identity)."""
        return self._op("Equal", self, other)

    def is_not_equal(self, other: Any) -> Task:
        """A task returning ``self != other``."""
        return self._op("NotEqual", self, other)

    def not_(self) -> Task:
        """A task returning ``not self``."""
        return self._op("Not", self)

    def __or__(self, other: Any) -> Task:
        """``a | b``: b runs after a (a state-only dependency); returns b.

        A value that is not a task becomes a :class:`~lockgate.tasks.core.Constant`.
        """
        from lockgate.utilities.tasks import as_task

        downstream = as_task(other)
        self.set_downstream(downstream)
        return downstream

    def __ror__(self, other: Task) -> Task:
        self.set_upstream(other)
        return self


Task.run_signature = RunSignature((), frozenset(), False)

_PLAIN_COPY: dict[type, bool] = {}
"""Per task class: whether ``copy.copy`` would only copy ``__dict__`` (see _shallow_copy)."""


def _shallow_copy(task: Task) -> Task:
    """``copy.copy(task)``, without its reduce protocol where that only copies ``__dict__``.

    The functional API copies every task it calls, so this is on the path of building a
    flow; ``copy.copy`` is still used for classes that customize copying or pickling.
    """
    cls = type(task)
    plain = _PLAIN_COPY.get(cls)
    if plain is None:
        plain = _PLAIN_COPY[cls] = (
            cls.__reduce_ex__ is object.__reduce_ex__
            and cls.__reduce__ is object.__reduce__
            and cls.__getstate__ is Task.__getstate__
            and not any(
                hasattr(cls, name)
                for name in ("__copy__", "__setstate__", "__getnewargs__", "__getnewargs_ex__")
            )
            and not any("__slots__" in vars(k) for k in cls.__mro__)
        )
    if not plain:
        return copy.copy(task)
    new: Task = cls.__new__(cls)
    new.__dict__.update(task.__dict__)
    return new


def _active_flow(flow: Flow | None, task: Task, action: str = "got dependencies") -> Flow:
    if flow is not None:
        return flow
    active: Flow | None = _current_context().get("flow")
    if active is None:
        raise ValueError(
            f"Task '{task.name}' {action} outside a flow. No Flow was passed. "
            "Could not infer an active Flow context: do it inside "
            "`with Flow('name') as flow:` or pass flow=... explicitly."
        )
    return active


class Parameter(Task):
    """A root task whose value comes from the run's ``parameters``.

    Args:
        name: the parameter's name; unique within a flow.
        default: the value used when the run gives none; giving a default makes the
            parameter optional.
        required: whether a run must give a value.
        tags: labels for the task.
    """

    def __init__(
        self,
        name: str,
        default: Any = None,
        required: bool = True,
        tags: Iterable[str] | None = None,
    ) -> None:
        from lockgate.engine.result_handlers import JSONResultHandler

        if default is not None:
            required = False
        self.default = default
        self.required = required
        # A run's parameters are JSON values: keep them as JSON when checkpointed.
        super().__init__(name=name, slug=name, tags=tags, result_handler=JSONResultHandler())

    def __repr__(self) -> str:
        return f"<Parameter: {self.name}>"

    # A flow finds a parameter's value by its name, so neither may change once set.
    _name: str
    _slug: str | None

    @property
    def name(self) -> str:
        """The parameter's name (fixed once created)."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        if "_name" in self.__dict__:
            raise AttributeError(
                f"Parameter '{self._name}': a parameter's name cannot be changed; "
                f"create a new Parameter({value!r}) instead."
            )
        self._name = value

    @property
    def slug(self) -> str | None:
        """The parameter's slug, its name (fixed once created)."""
        return self._slug

    @slug.setter
    def slug(self, value: str | None) -> None:
        if "_slug" in self.__dict__:
            raise AttributeError(
                f"Parameter '{self._name}': a parameter's slug is its name and cannot be changed."
            )
        self._slug = value

    def serialize(self) -> dict[str, Any]:
        """A JSON-compatible description of the parameter (see ``docs/serialization.md``).

        Returns:
            The parameter as :class:`~lockgate.serialization.task.ParameterSchema` writes it.
        """
        from lockgate.serialization.task import ParameterSchema

        serialized: dict[str, Any] = ParameterSchema().dump(self)
        return serialized

    def __call__(self, *, flow: Flow | None = None) -> Task:  # type: ignore[override]
        """Add a copy of this parameter to the flow (a parameter takes no inputs).

        Args:
            flow: the flow (default: the ``with Flow(...)`` block).

        Returns:
            The copy, with the same name.

        Raises:
            TypeError: when given inputs: pass the parameter to other tasks instead.
            ValueError: when the flow already has a parameter of this name.
        """
        return super().__call__(flow=flow)

    def run(self) -> Any:
        """Return the run's value for this parameter, else its default.

        Raises:
            FAIL: when the parameter is required and the run gave no value.
        """
        from lockgate.engine import signals

        parameters = _current_context().get("parameters") or {}
        if self.name in parameters:
            return parameters[self.name]
        if self.required:
            raise signals.FAIL(
                f"Parameter '{self.name}' is required but not provided; "
                f"pass it as flow.run(parameters={{'{self.name}': ...}})."
            )
        return self.default

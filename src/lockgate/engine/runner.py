"""Runner: what TaskRunner and FlowRunner share.

A runner takes one target (a task or a flow) from its current state to its next
ones. Every move from one state to another goes through one path,
:meth:`Runner.change_state`:

1. :meth:`Runner.handle_state_change` calls the target's own state handlers (through
   :meth:`Runner.call_runner_target_handlers`, which TaskRunner and FlowRunner
   override to call ``task.state_handlers`` / ``flow.state_handlers``), then the
   runner's ``state_handlers``. Each handler may return a replacement state.
2. :meth:`Runner.after_state_change` tells the runner's listeners (run hooks).
   ``on_failure`` is one of the target's state handlers (see
   :class:`~lockgate.core.task.OnFailureHandler`), so step 1 calls it.

A handler that raises a signal sets that signal's state. A handler that raises any
other exception ends the run with ``Failed("Exception raised while calling state
handlers.")`` (as :class:`ENDRUN`), unless ``raise_on_exception`` is set, in which
case the exception reaches the caller.

Handlers form a chain, as in Prefect 0.5.1: each receives what the one before it
returned (None keeps the state it was given). When the chain ends on something that is
not a State, the run fails with :class:`StateHandlerReturnError`, as for a raising
handler.

:class:`ENDRUN` is how a step stops a runner's pipeline early: the state it carries
is the outcome of the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from lockgate.engine import signals
from lockgate.engine.signals import ENDRUN
from lockgate.engine.state import Failed, MetaState, Pending, State
from lockgate.utilities import context as ctx

__all__ = ["ENDRUN", "Runner", "StateHandlerReturnError"]

StateHandler = Callable[[Any, State, State], "State | None"]
"""A state handler: ``handler(target_or_runner, old_state, new_state)``."""

_log = logging.getLogger("lockgate.engine.runner")


_Method = TypeVar("_Method", bound=Callable[..., Any])


class StateHandlerReturnError(TypeError, AttributeError):
    """A chain of state handlers ended on something that is not a State.

    It is both a TypeError (the value has the wrong type) and an AttributeError (what
    Prefect 0.5.1 raised when it used the value as a state), so code written for
    either keeps working.

    Args:
        handler: the handler that returned ``returned``.
        returned: what it returned.
    """

    def __init__(self, handler: Any, returned: Any) -> None:
        self.handler = handler
        self.returned = returned
        name = getattr(handler, "__qualname__", None) or repr(handler)
        super().__init__(
            f"State handler {name} returned {returned!r}, which is not a State; a state "
            "handler must return the new State, or None to keep the state it was given."
        )


def run_handler_chain(
    runner: Runner, handlers: Iterable[StateHandler], subject: Any, old: State, new: Any
) -> Any:
    """Call ``handler(subject, old, new)`` for each handler, passing each result on.

    None keeps the value given; anything else becomes the next handler's ``new``. The
    handler behind a non-State value is remembered on ``runner`` so the error at the
    end of the chain can name it.

    Args:
        runner: the runner whose state change this is.
        handlers: the handlers, in order.
        subject: the first argument of each handler (task, flow or runner).
        old: the state being left.
        new: the state being entered (or what an earlier handler returned).

    Returns:
        What the last handler that returned something returned, else ``new``.
    """
    for handler in handlers:
        returned = handler(subject, old, new)
        if returned is not None:
            new = returned
            if not isinstance(returned, State):
                runner._non_state_source = handler
    return new


def standard_handling(method: _Method) -> _Method:
    """Mark a runner's own ``call_runner_target_handlers`` as the built-in one.

    A runner class whose handling methods are all built-in skips handler calls when
    there are no handlers (and TaskRunner skips the whole state-change path when
    nothing follows the task); one that overrides them is always called.
    """
    method._lockgate_standard = True  # type: ignore[attr-defined]
    return method


class Runner:
    """Base class of the runners: state handlers, listeners and run initialization.

    Args:
        state_handlers: callables ``handler(runner, old_state, new_state)`` called on
            every state change, after the target's own handlers; each may return a
            replacement state (None keeps the state it was given).
        listeners: observers ``listener(runner, old_state, new_state)`` told of every
            state change after the handlers (``on_failure`` among them); they cannot
            change the run, and one that raises is logged and ignored.

    Raises:
        TypeError: when ``state_handlers`` is not a list (or other iterable) of
            callables, e.g. a single function.
    """

    _standard_handling: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._standard_handling = (
            cls.handle_state_change is Runner.handle_state_change
            and getattr(cls.change_state, "_lockgate_standard", False)
            and getattr(cls.call_runner_target_handlers, "_lockgate_standard", False)
            and getattr(cls.after_state_change, "_lockgate_standard", False)
        )

    def __init__(
        self,
        state_handlers: Iterable[StateHandler] | None = None,
        listeners: Iterable[StateHandler] = (),
    ) -> None:
        self.state_handlers: list[StateHandler] = _handler_list(state_handlers, "state_handlers")
        self.listeners: list[StateHandler] = list(listeners)

    @property
    def logger(self) -> logging.Logger:
        """The runner's logger, ``lockgate.<RunnerClass>``."""
        return logging.getLogger(f"lockgate.{type(self).__name__}")

    def _heartbeat(self) -> None:
        """Report that the run is alive; runners that need a heartbeat override this."""

    # -- run initialization -----------------------------------------------------------
    def initialize_run(
        self, state: State | None, context: dict[str, Any]
    ) -> tuple[State, dict[str, Any]]:
        """Find the state to start from: meta states are unwrapped, None is ``Pending()``.

        Args:
            state: the state the run was given, possibly a meta state (Submitted,
                Queued) wrapping the real one, possibly nested.
            context: the run's context values; subclasses add to it.

        Returns:
            ``(state, context)``: the unwrapped state and the same context dict.
        """
        while isinstance(state, MetaState):
            state = state.state
        return (state if state is not None else Pending()), context

    # -- the state-change path --------------------------------------------------------
    @property
    def target(self) -> Any:
        """What the runner runs, whose own ``state_handlers`` are called first: the task
        of a TaskRunner, the flow of a FlowRunner; None for the base runner."""
        return None

    @standard_handling
    def call_runner_target_handlers(self, old_state: State, new_state: State) -> State:
        """Call the target's own ``state_handlers`` (``handler(target, old, new)``) in order.

        Override it to call a target's handlers differently.

        Args:
            old_state: the state being left.
            new_state: the state being entered.

        Returns:
            What the last handler that returned something returned (a handler
            returning None keeps what it was given); each handler receives the
            previous one's return value, as in Prefect 0.5.1. A value that is not a
            State is refused after the runner's own handlers have had it.
        """
        target = self.target
        if target is None:
            return new_state
        # Usually a State; handle_state_change refuses anything else at the end.
        chained: State = run_handler_chain(
            self, target.state_handlers, target, old_state, new_state
        )
        return chained

    def handle_state_change(self, old_state: State, new_state: State) -> State:
        """Call the target's handlers, then the runner's, on the move ``old -> new``.

        Args:
            old_state: the state being left.
            new_state: the state being entered.

        Returns:
            The new state, as the handlers left it; the state of a signal (other than
            PAUSE) a handler raised.

        Raises:
            ENDRUN: with ``Failed("Exception raised while calling state handlers.")``
                when a handler raised an exception that is not a signal, and as it was
                when a handler raised ENDRUN itself.
            PAUSE: when a handler raised it (the caller keeps the task's inputs).
            Exception: any exception of a handler, when ``raise_on_exception`` is set.
        """
        try:
            self._non_state_source: Any = None
            chained: Any = self.call_runner_target_handlers(old_state, new_state)
            if chained is None:  # an overriding method may return None to keep the state
                chained = new_state
            elif not isinstance(chained, State) and self._non_state_source is None:
                self._non_state_source = self.call_runner_target_handlers
            chained = run_handler_chain(self, self.state_handlers, self, old_state, chained)
            if not isinstance(chained, State):
                raise StateHandlerReturnError(self._non_state_source, chained)
            new_state = chained
        except (signals.PAUSE, ENDRUN):
            raise
        except signals.PrefectStateSignal as sig:
            if ctx.current().get("raise_on_exception"):
                raise
            return self.state_from_signal(sig)
        except Exception as exc:
            if ctx.current().get("raise_on_exception"):
                raise
            self.logger.exception("A state handler of %r raised", self)
            raise ENDRUN(
                Failed("Exception raised while calling state handlers.", result=exc)
            ) from None
        return new_state

    def state_from_signal(self, sig: signals.PrefectStateSignal) -> State:
        """The state a signal raised by a state handler (or a step) moves the run to.

        Args:
            sig: the signal.

        Returns:
            The signal's state; TaskRunner fills in a RETRY's start time and run count.
        """
        return sig.state

    def has_state_handlers(self) -> bool:
        """Whether a state change must call :meth:`handle_state_change` at all.

        Returns:
            True when the runner or its target has state handlers, or the runner's
            class overrides how handlers are called.
        """
        target = self.target
        return (
            bool(self.state_handlers or (target is not None and target.state_handlers))
            or not self._standard_handling
        )

    @standard_handling
    def change_state(
        self, old_state: State | None, new_state: State, inputs: Mapping[str, Any] | None = None
    ) -> State:
        """Record the move ``old -> new``: the one path every state change takes.

        Calls :meth:`handle_state_change` (when there are handlers), then
        :meth:`after_state_change`. A PAUSE raised by a handler gives its Paused
        state. A Pending-family or Failed state a handler chose keeps ``inputs`` (as
        ``cached_inputs``), so the task can be resumed or retried with them.

        Args:
            old_state: the state being left (None means ``Pending()``).
            new_state: the state being entered.
            inputs: the task's inputs, if known.

        Returns:
            The state the run is now in.

        Raises:
            ENDRUN: when a handler failed; the Failed state it carries has been
                through :meth:`after_state_change` already.
        """
        old = old_state if old_state is not None else Pending()
        if self.has_state_handlers():
            try:
                new_state = self.handle_state_change(old, new_state)
            except signals.PAUSE as sig:
                new_state = self.state_from_signal(sig)
            except ENDRUN as end:
                keep_inputs(end.state, inputs)
                self.after_state_change(old, end.state)
                raise
            keep_inputs(new_state, inputs)
        self.after_state_change(old, new_state)
        return new_state

    @standard_handling
    def after_state_change(self, old_state: State, new_state: State) -> None:
        """Tell the runner's listeners (run hooks) of the move.

        Args:
            old_state: the state left.
            new_state: the state entered.
        """
        for listener in self.listeners:  # run hooks: observers never change the run
            try:
                listener(self, old_state, new_state)
            except Exception:
                _log.exception("A run hook raised for %r; ignored", self)


def keep_inputs(state: State, inputs: Mapping[str, Any] | None) -> State:
    """Give a Pending-family or Failed ``state`` the task's inputs, unless it has some.

    So a paused, retried or failed task can run again later with the inputs it had.

    Args:
        state: the state to complete (changed in place).
        inputs: the task's inputs, or None when unknown.

    Returns:
        ``state``.
    """
    if inputs is not None and state.cached_inputs is None and isinstance(state, (Pending, Failed)):
        state.cached_inputs = dict(inputs)
    return state


def _handler_list(handlers: Iterable[StateHandler] | None, what: str) -> list[StateHandler]:
    """``handlers`` as a list, refusing a lone callable or a non-iterable."""
    if handlers is None:
        return []
    if type(handlers) is list:  # the common case (a flow run's, for every task)
        return handlers.copy()
    if (
        callable(handlers)
        or isinstance(handlers, (str, bytes))
        or not isinstance(handlers, Iterable)
    ):
        raise TypeError(
            f"{what} must be a list of callables, e.g. {what}=[my_handler]; got {handlers!r}."
        )
    return list(handlers)

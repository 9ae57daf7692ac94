"""A task that fills a :meth:`str.format` template."""

from __future__ import annotations

from typing import Any

from lockgate.core.task import Task
from lockgate.utilities.context import context

__all__ = ["StringFormatter", "StringFormatterTask"]


class StringFormatter(Task):
    """A task that fills a ``str.format`` template and returns the text.

    The template's fields are filled from the task's keyword arguments (usually upstream
    results) and from :data:`lockgate.context`, so ``"{task_name} ran on {today}"`` works
    without any argument. Keyword arguments win over context values of the same name.

    Args:
        template: the template (default: empty); can also be given when the task is
            called, which wins.
        **kwargs: any other :class:`~lockgate.core.task.Task` argument.
    """

    def __init__(self, template: str | None = None, **kwargs: Any) -> None:
        self.template = template or ""
        super().__init__(**kwargs)

    def run(self, template: str | None = None, **format_kwargs: Any) -> str:
        """Fill the template.

        Args:
            template: the template to fill (default: the one given at initialization).
            **format_kwargs: values for the template's named fields.

        Returns:
            The filled-in text.

        Raises:
            KeyError: for a named field that is neither an argument nor in the context.
            IndexError: for a positional field such as ``{0}``; only named fields can be
                filled.
        """
        if template is None:
            template = self.template
        with context(**format_kwargs) as values:
            return template.format(**values)


StringFormatterTask = StringFormatter
"""Another name for :class:`StringFormatter`, naming it as the task it is."""

"""A task that renders a Jinja template (Jinja is imported only when one is rendered)."""

from __future__ import annotations

from typing import Any

from lockgate.core.task import Task
from lockgate.utilities.context import context
from lockgate.utilities.tasks import defaults_from_attrs

__all__ = ["JinjaTemplate", "JinjaTemplateTask"]


class JinjaTemplate(Task):
    """A task that renders a Jinja template and returns the text.

    Variables come from the task's keyword arguments (usually upstream results) and from
    :data:`lockgate.context`; keyword arguments win over context values of the same name.
    A variable that is missing renders as empty text (Jinja's default), and the output is
    not HTML-escaped. Needs Jinja: ``pip install lockgate[library]``.

    Args:
        template: the template source (default: empty); can also be given when the task
            is called, which wins.
        **kwargs: any other :class:`~lockgate.core.task.Task` argument.
    """

    def __init__(self, template: str | None = None, **kwargs: Any) -> None:
        self.template = template or ""
        super().__init__(**kwargs)

    @defaults_from_attrs("template")
    def run(self, template: str | None = None, **format_kwargs: Any) -> str:
        """Render the template.

        Args:
            template: the template source (default: the one given at initialization).
            **format_kwargs: variables for the template.

        Returns:
            The rendered text.

        Raises:
            ImportError: if Jinja is not installed, saying which extra to install.
            jinja2.TemplateError: for a template that does not parse or fails to render.
        """
        try:
            import jinja2
        except ImportError as exc:
            raise ImportError(
                "JinjaTemplate needs the jinja2 package; install it with "
                "`pip install lockgate[library]`."
            ) from exc
        compiled = jinja2.Template(template or "")
        with context(**format_kwargs) as values:
            rendered: str = compiled.render(**values)
        return rendered


JinjaTemplateTask = JinjaTemplate
"""Another name for :class:`JinjaTemplate`, naming it as the task it is."""

"""Template tasks: fill a text template from upstream results and the run context.

``StringFormatter`` uses :meth:`str.format`; ``JinjaTemplate`` uses Jinja (installed with
``pip install lockgate[library]``; imported only when a Jinja template is rendered).
"""

from lockgate.tasks.templates.jinja2 import JinjaTemplate, JinjaTemplateTask
from lockgate.tasks.templates.strings import StringFormatter, StringFormatterTask

__all__ = ["JinjaTemplate", "JinjaTemplateTask", "StringFormatter", "StringFormatterTask"]

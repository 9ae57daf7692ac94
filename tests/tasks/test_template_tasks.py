"""StringFormatter and JinjaTemplate: templates filled from upstream results and the context."""

from __future__ import annotations

import subprocess
import sys

import cloudpickle
import pytest

import lockgate
from lockgate import Flow, Parameter, task
from lockgate.tasks.templates import (
    JinjaTemplate,
    JinjaTemplateTask,
    StringFormatter,
    StringFormatterTask,
)


@task
def count_rows() -> int:
    return 1200


def test_string_formatter_fills_fields_from_upstream_results():
    with Flow("report") as flow:
        text = StringFormatter(template="{table}: {rows} rows")(
            table=Parameter("table"), rows=count_rows()
        )
    state = flow.run(parameters={"table": "orders"})
    assert state.result[text].result == "orders: 1200 rows"


def test_string_formatter_reads_the_run_context_and_arguments_win():
    template = StringFormatter(template="{task_name} in {flow_name} by {who}", name="greeter")
    flow = Flow("daily", tasks=[template])
    with lockgate.context(who="context"):
        state = flow.run()
    assert state.result[template].result == "greeter in daily by context"
    with Flow("daily") as flow:
        text = template(who="argument")
    with lockgate.context(who="context"):
        assert flow.run().result[text].result == "greeter in daily by argument"


def test_string_formatter_template_at_call_time():
    with Flow("f") as flow:
        text = StringFormatter(template="ignored")(template="{x!r}", x=[1])
    assert flow.run().result[text].result == "[1]"


def test_string_formatter_missing_field_fails_with_key_error():
    template = StringFormatter(template="{nope}")
    state = Flow("f", tasks=[template]).run()
    assert state.is_failed()
    assert isinstance(state.result[template].result, KeyError)


def test_jinja_template_loops_and_filters_over_upstream_results():
    @task
    def failures() -> list[str]:
        return ["load_orders", "load_refunds"]

    template = JinjaTemplate(
        template="{{ items | length }} failed:{% for i in items %} {{ i | upper }}{% endfor %}"
    )
    with Flow("alerts") as flow:
        text = template(items=failures())
    assert flow.run().result[text].result == "2 failed: LOAD_ORDERS LOAD_REFUNDS"


def test_jinja_template_reads_context_renders_missing_names_empty_and_does_not_escape():
    template = JinjaTemplate(template="{{ task_name }}|{{ missing }}|{{ html }}", name="page")
    with Flow("f") as flow:
        text = template(html="<b>&</b>")
    assert flow.run().result[text].result == "page||<b>&</b>"


def test_jinja_syntax_error_fails_the_task():
    template = JinjaTemplate(template="{% for %}")
    state = Flow("f", tasks=[template]).run()
    assert state.is_failed()
    assert type(state.result[template].result).__name__ == "TemplateSyntaxError"


def test_template_tasks_pickle_and_have_task_names():
    assert StringFormatterTask is StringFormatter
    assert JinjaTemplateTask is JinjaTemplate
    restored = cloudpickle.loads(cloudpickle.dumps(JinjaTemplate(template="{{ x }}")))
    assert restored.run(x=5) == "5"
    assert restored.template == "{{ x }}"


def test_importing_the_templates_does_not_import_jinja2():
    code = "import sys, lockgate.tasks.templates; print('jinja2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_templates_without_a_template_render_empty():
    assert StringFormatter().run() == ""
    assert JinjaTemplate().run() == ""
    with pytest.raises(KeyError):
        StringFormatter(template="{x}").run()

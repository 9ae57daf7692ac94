"""defaults_from_attrs: a task's run falls back to attributes set at init."""

from __future__ import annotations

import pytest

from lockgate import Flow, Task
from lockgate.utilities.tasks import defaults_from_attrs


class Greeter(Task):
    """Says a greeting; the greeting and the name can be set at init or per call."""

    def __init__(self, greeting: str = "hello", name: str | None = None, **kwargs):
        self.greeting = greeting
        self.name_to_greet = name
        super().__init__(**kwargs)

    @defaults_from_attrs("greeting")
    def run(self, greeting: str | None = None, punctuation: str = "!") -> str:
        """Greet."""
        return f"{greeting}{punctuation}"


def test_attribute_used_when_argument_missing_and_argument_wins_even_none():
    greeter = Greeter("hi")
    assert greeter.run() == "hi!"
    assert greeter.run(greeting="yo") == "yo!"
    assert greeter.run(greeting=None) == "None!"
    assert greeter.run("positional", "?") == "positional?"  # positional arguments count too


def test_keeps_name_doc_and_task_inputs():
    assert Greeter.run.__name__ == "run"
    assert Greeter.run.__doc__ == "Greet."
    with Flow("greet") as flow:
        result = Greeter("bonjour")(punctuation=".")
    assert flow.run().result[result].result == "bonjour."


def test_missing_attribute_is_an_attribute_error():
    class Forgetful(Task):
        @defaults_from_attrs("setting")
        def run(self, setting=None):
            return setting

    with pytest.raises(AttributeError, match="setting"):
        Forgetful().run()

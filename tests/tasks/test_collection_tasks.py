"""Collection tasks built by hand, as Prefect 0.5.1 builds them."""

from __future__ import annotations

import pytest

from lockgate import Flow, Parameter, task
from lockgate.core import Edge
from lockgate.tasks.core.collections import Dict, List, Set, Tuple


@task
def number(n: int) -> int:
    return n


@pytest.mark.parametrize(("kind", "expected"), [(List, [3, 1, 2]), (Tuple, (3, 1, 2))])
def test_positional_items_keep_their_order(kind: type, expected: object) -> None:
    with Flow("f") as flow:
        first = number(3)
        collection = kind().bind(first, 1, number(2))
    assert Edge(first, collection, key="arg_1") in flow.edges_to(collection)
    assert flow.constants[collection] == {"arg_2": 1}
    assert flow.run().result[collection].result == expected


def test_a_set_collects_its_items() -> None:
    with Flow("f") as flow:
        unique = Set().bind(number(1), 1, 2)
    assert flow.run().result[unique].result == {1, 2}


def test_an_item_given_twice_is_refused() -> None:
    with Flow("f"), pytest.raises(TypeError, match="'arg_1'"):
        List().bind(1, arg_1=2)


def test_dict_pairs_keys_and_values_including_tasks() -> None:
    with Flow("f") as flow:
        name = Parameter("name")
        mapping = Dict().bind(keys=[name, None], values=[1, number(2)])
    state = flow.run(name="a")
    assert state.result[mapping].result == {"a": 1, None: 2}


def test_dict_with_keys_and_values_of_different_lengths_fails() -> None:
    with Flow("f") as flow:
        mapping = Dict().bind(keys=["a"], values=[1, 2])
    failed = flow.run().result[mapping]
    assert failed.is_failed() and isinstance(failed.result, ValueError)
    assert "1 key(s) and 2 value(s)" in str(failed.result)

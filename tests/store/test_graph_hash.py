"""graph_hash: the same flow hashes the same; any change to its shape changes the hash."""

from __future__ import annotations

from lockgate import Flow, Task, task
from lockgate.store import graph_hash


@task
def numbers() -> list[int]:
    return [1, 2, 3]


@task
def double(x: int) -> int:
    return 2 * x


@task
def total(xs: list[int], offset: int = 0) -> int:
    return sum(xs) + offset


def build(*, mapped: bool = True, key: str = "xs", rewired: bool = False) -> Flow:
    flow = Flow("shape")
    n, d, t = numbers.copy(), double.copy(), total.copy()
    flow.add_edge(n, d, key="x", mapped=mapped)
    if rewired:
        flow.add_edge(n, t, key=key)
        flow.add_edge(d, t)
    else:
        flow.add_edge(d, t, key=key)
        flow.add_edge(n, t)
    return flow


def test_the_same_code_builds_flows_with_the_same_hash() -> None:
    assert graph_hash(build()) == graph_hash(build())


def test_a_rewired_edge_a_key_or_the_mapped_flag_changes_the_hash() -> None:
    base = graph_hash(build())
    changed = {
        graph_hash(build(rewired=True)),
        graph_hash(build(key="offset")),
        graph_hash(build(mapped=False)),
    }
    assert base not in changed
    assert len(changed) == 3


def test_adding_or_renaming_a_task_changes_the_hash() -> None:
    base = graph_hash(build())
    bigger = build()
    bigger.add_task(Task(name="extra"))
    renamed = build()
    next(t for t in renamed.tasks if t.name == "total").name = "sum"
    assert graph_hash(bigger) != base
    assert graph_hash(renamed) != base


def test_a_copy_and_a_flow_built_by_update_hash_like_the_original() -> None:
    original = build()
    merged = Flow("shape")
    merged.update(original)
    assert graph_hash(original.copy()) == graph_hash(original)
    assert graph_hash(merged) == graph_hash(original)


def test_replacing_a_task_by_an_equal_one_keeps_the_hash_and_its_edges() -> None:
    flow = build()
    old = next(t for t in flow.tasks if t.name == "double")
    before = graph_hash(flow)
    flow.replace(old, double.copy())
    assert graph_hash(flow) == before
    flow.replace(next(t for t in flow.tasks if t.name == "double"), Doubler(name="double"))
    assert graph_hash(flow) != before  # another class


class Doubler(Task):
    def run(self, x: int) -> int:  # type: ignore[override]
        return 2 * x

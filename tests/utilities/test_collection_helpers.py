"""lockgate.utilities.collections: DotDict, deep merges, flat views (and GraphQLResult)."""

from __future__ import annotations

import pickle

import pytest

from lockgate.utilities.collections import (
    CompoundKey,
    DotDict,
    as_nested_dict,
    dict_to_flatdict,
    flatdict_to_dict,
    flatten_seq,
    merge_dicts,
    to_dotdict,
)
from lockgate.utilities.graphql import GraphQLResult


class TestDotDict:
    def test_keys_and_attributes_agree(self) -> None:
        settings = DotDict({"region": "eu-west"}, retries=3)
        settings.timeout = 30
        settings["owner"] = "ops"
        assert settings.region == settings["region"] == "eu-west"
        assert settings["timeout"] == 30
        assert settings.owner == "ops"
        assert sorted(settings) == ["owner", "region", "retries", "timeout"]
        assert len(settings) == 4

    def test_delete_by_key_or_attribute(self) -> None:
        settings = DotDict(a=1, b=2)
        del settings.a
        del settings["b"]
        assert settings == {}

    def test_missing_names_raise_the_right_errors(self) -> None:
        settings = DotDict(a=1)
        with pytest.raises(KeyError):
            settings["nope"]
        with pytest.raises(AttributeError, match="DotDict has no key 'nope'"):
            settings.nope  # noqa: B018
        assert settings.get("nope") is None
        assert settings.get("nope", 7) == 7

    @pytest.mark.parametrize("name", ["items", "values", "pop", "setdefault"])
    def test_method_names_are_refused_as_keys(self, name: str) -> None:
        with pytest.raises(ValueError, match=f"'{name}' is the name of a mapping method"):
            DotDict({name: 1})
        with pytest.raises(ValueError):
            setattr(DotDict(), name, 1)

    def test_non_string_keys(self) -> None:
        table = DotDict({404: "not found"})
        table[(1, 2)] = "pair"
        assert table[404] == "not found"
        assert table[(1, 2)] == "pair"
        assert repr(DotDict()) == "<DotDict>"
        assert repr(DotDict(b=1, a=2)) == "<DotDict: 'a', 'b'>"

    def test_equal_to_a_plain_dict_and_splats(self) -> None:
        settings = DotDict(x=1, y=2)
        assert settings == {"x": 1, "y": 2}
        assert dict(**settings) == {"x": 1, "y": 2}

    def test_copy_is_shallow_and_same_class(self) -> None:
        shared = [1]
        original = DotDict(items_list=shared, n=1)
        copied = original.copy()
        copied.n = 2
        copied.items_list.append(2)
        assert type(copied) is DotDict
        assert original.n == 1
        assert original.items_list == [1, 2]

    def test_to_dict_converts_nested_values(self) -> None:
        nested = DotDict(job=DotDict(steps=[DotDict(name="load")], meta=DotDict()))
        plain = nested.to_dict()
        assert plain == {"job": {"steps": [{"name": "load"}], "meta": {}}}
        assert type(plain["job"]) is dict
        assert type(plain["job"]["steps"][0]) is dict

    def test_pickles(self) -> None:
        settings = DotDict(a=DotDict(b=1))
        assert pickle.loads(pickle.dumps(settings)) == settings


class TestMergeDicts:
    def test_later_values_win_and_sections_merge(self) -> None:
        base = {"db": {"host": "localhost", "port": 5432}, "debug": False}
        override = {"db": {"host": "db.internal"}, "debug": True, "extra": 1}
        merged = merge_dicts(base, override)
        assert merged == {
            "db": {"host": "db.internal", "port": 5432},
            "debug": True,
            "extra": 1,
        }
        assert base == {"db": {"host": "localhost", "port": 5432}, "debug": False}

    def test_keeps_the_first_arguments_type(self) -> None:
        merged = merge_dicts(DotDict(a=DotDict(x=1)), {"a": {"y": 2}})
        assert isinstance(merged, DotDict)
        assert merged.a == {"x": 1, "y": 2}

    def test_a_value_replaces_a_section_and_back(self) -> None:
        assert merge_dicts({"a": {"x": 1}}, {"a": 5}) == {"a": 5}
        assert merge_dicts({"a": 5}, {"a": {"x": 1}}) == {"a": {"x": 1}}

    def test_empty_section_changes_nothing(self) -> None:
        assert merge_dicts({"a": {"x": 1}}, {"a": {}}) == {"a": {"x": 1}}


class TestNestedAndFlat:
    def test_as_nested_dict_walks_collections(self) -> None:
        data = {"runs": [{"id": 1}, ({"id": 2},)], "owner": {"name": "ops"}}
        converted = as_nested_dict(data)
        assert isinstance(converted, DotDict)
        assert converted.runs[0].id == 1
        assert isinstance(converted.runs[1], tuple)
        assert converted.runs[1][0].id == 2
        assert converted.owner.name == "ops"
        assert to_dotdict(data) == converted

    def test_as_nested_dict_back_to_plain_dicts(self) -> None:
        back = as_nested_dict(to_dotdict({"a": [{"b": 1}]}), dict)
        assert type(back) is dict
        assert type(back["a"][0]) is dict

    def test_as_nested_dict_allows_method_named_keys_when_the_class_does(self) -> None:
        result = as_nested_dict({"update": {"update": [{"x": 1}]}}, GraphQLResult)
        assert result.update.update[0].x == 1

    def test_flat_round_trip(self) -> None:
        nested = {"engine": {"executor": {"default": "local"}, "retries": 2}, "debug": True}
        flat = dict_to_flatdict(nested)
        assert flat == {
            CompoundKey(("engine", "executor", "default")): "local",
            CompoundKey(("engine", "retries")): 2,
            CompoundKey(("debug",)): True,
        }
        assert flatdict_to_dict(flat) == nested

    def test_flatdict_to_dict_builds_the_class_at_every_level(self) -> None:
        flat = dict_to_flatdict(DotDict(a=DotDict(b=DotDict(c=1))))
        rebuilt = flatdict_to_dict(flat, dct_class=DotDict)
        assert isinstance(rebuilt.a.b, DotDict)
        assert rebuilt.a.b.c == 1

    def test_flatdict_keeps_plain_keys_at_the_top(self) -> None:
        assert flatdict_to_dict({"plain": 1, CompoundKey(("a", "b")): 2}) == {
            "plain": 1,
            "a": {"b": 2},
        }

    def test_flatten_seq(self) -> None:
        assert list(flatten_seq([1, (2, [3, [4]]), "ab", b"cd"])) == [1, 2, 3, 4, "ab", b"cd"]
        with pytest.raises(TypeError):
            list(flatten_seq(5))  # type: ignore[arg-type]


class TestGraphQLResult:
    def test_any_key_and_json_repr(self) -> None:
        result = GraphQLResult(update=1, flow={"id": "abc"})
        assert result.update == 1
        assert repr(as_nested_dict({"flow": {"id": "abc"}}, GraphQLResult)) == (
            '{\n    "flow": {\n        "id": "abc"\n    }\n}'
        )

    def test_repr_falls_back_for_values_json_cannot_write(self) -> None:
        assert repr(GraphQLResult(when={1, 2})) == "{'when': {1, 2}}"

"""Dictionary helpers: a dict with attribute access, deep merges and flat views.

:class:`DotDict` is the base of :class:`lockgate.configuration.Config` and of the run
context; the other helpers convert between nested and flat dictionaries (the
configuration loader works on the flat form so it can address ``section.key`` paths)::

    from lockgate.utilities.collections import DotDict, merge_dicts

    settings = DotDict(retries=DotDict(count=3, delay=10))
    settings.retries.count                                # 3
    merge_dicts(settings, {"retries": {"delay": 30}})     # count kept, delay replaced
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator, Mapping, MutableMapping
from typing import Any, TypeVar, Union

__all__ = [
    "CompoundKey",
    "DictLike",
    "DotDict",
    "as_nested_dict",
    "dict_to_flatdict",
    "flatdict_to_dict",
    "flatten_seq",
    "merge_dicts",
    "to_dotdict",
]

DictLike = Union[dict[Any, Any], "DotDict"]
"""A plain ``dict`` or a :class:`DotDict`."""

_MappingT = TypeVar("_MappingT", bound=MutableMapping[Any, Any])


def flatten_seq(seq: Iterable[Any]) -> Generator[Any, None, None]:
    """Yield the items of a nested sequence in order, depth first.

    Strings and bytes count as single items, not as sequences of characters.

    Args:
        seq: a list, tuple or other iterable, possibly holding further iterables.

    Returns:
        A generator over the leaves: ``[1, (2, [3]), "ab"]`` gives ``1, 2, 3, "ab"``.

    Raises:
        TypeError: when ``seq`` is not iterable (raised on first iteration).
    """
    for item in seq:
        if isinstance(item, Iterable) and not isinstance(item, (str, bytes)):
            yield from flatten_seq(item)
        else:
            yield item


class DotDict(MutableMapping[Any, Any]):
    """A mutable mapping whose string keys can also be read and set as attributes.

    ``DotDict({"a": 1}, b=2)`` holds ``a`` and ``b``; ``d.a``, ``d["a"]`` and
    ``d.get("a")`` agree, and so do ``d.c = 3`` and ``d["c"] = 3``. Any hashable key may
    be stored, but only keys that are valid identifiers can be reached as attributes.

    Keys named like a mapping method (``keys``, ``update``, ``get``, ...) would hide
    that method, so they are refused unless a subclass sets
    ``__protect_critical_keys__ = False`` (as ``Config`` does, since users name their
    settings freely).

    Args:
        init_dict: a mapping of initial keys and values.
        **kwargs: further initial keys and values.

    Raises:
        ValueError: for a protected key (see above).
    """

    __protect_critical_keys__ = True

    def __init__(self, init_dict: Mapping[Any, Any] | None = None, **kwargs: Any) -> None:
        if init_dict:
            self.update(init_dict)
        if kwargs:
            self.update(kwargs)

    def get(self, key: Any, default: Any = None) -> Any:
        """Return the value of ``key``, or ``default`` when it is missing.

        Args:
            key: the key to look up.
            default: what to return when ``key`` is missing.

        Returns:
            The stored value, or ``default``.
        """
        try:
            return self[key]
        except KeyError:
            return default

    def __getitem__(self, key: Any) -> Any:
        return self.__dict__[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        if self.__protect_critical_keys__ and isinstance(key, str) and hasattr(MutableMapping, key):
            raise ValueError(
                f"Invalid key: {key!r} is the name of a mapping method, so it cannot be a "
                f"key of a {type(self).__name__}; choose another name."
            )
        self.__dict__[key] = value

    def __delitem__(self, key: Any) -> None:
        del self.__dict__[key]

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __getattr__(self, name: str) -> Any:
        # Reached only when normal attribute lookup fails, i.e. the key is missing.
        raise AttributeError(f"{type(self).__name__} has no key {name!r}")

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self.__dict__))

    def __len__(self) -> int:
        return len(self.__dict__)

    def __repr__(self) -> str:
        name = type(self).__name__
        if not self:
            return f"<{name}>"
        return f"<{name}: {', '.join(sorted(repr(key) for key in self))}>"

    def copy(self) -> DotDict:
        """Return a shallow copy of the same class (nested values are shared).

        Returns:
            A new mapping of the same type with the same keys and values.
        """
        new = type(self)()
        new.__dict__.update(self.__dict__)
        return new

    def to_dict(self) -> dict[Any, Any]:
        """Return the contents as plain nested ``dict`` s, converting nested ``DotDict`` s too.

        Returns:
            A ``dict`` (lists, tuples and sets of mappings are converted as well).
        """
        result: dict[Any, Any] = as_nested_dict(self, dct_class=dict)
        return result


def merge_dicts(d1: _MappingT, d2: Mapping[Any, Any]) -> _MappingT:
    """Return a copy of ``d1`` updated from ``d2``, merging nested mappings key by key.

    Where both hold a mapping under the same key the two are merged recursively;
    otherwise the value of ``d2`` wins. Neither argument is modified.

    Args:
        d1: the base mapping (its type is kept).
        d2: the mapping whose values take precedence.

    Returns:
        The merged mapping, of ``d1`` 's type.
    """
    merged: Any = d1.copy()  # type: ignore[attr-defined]
    # The Mapping methods, not the objects' own: a Config may have a setting "items".
    for key, value in Mapping.items(d2):
        current = Mapping.get(merged, key)
        if isinstance(current, MutableMapping) and isinstance(value, MutableMapping):
            merged[key] = merge_dicts(current, value)
        else:
            merged[key] = value
    result: _MappingT = merged
    return result


def as_nested_dict(obj: Any, dct_class: type[MutableMapping[Any, Any]] = DotDict) -> Any:
    """Convert every mapping inside ``obj`` (recursively) to ``dct_class``.

    Lists, tuples and sets are walked and rebuilt with the same type; other values are
    returned unchanged.

    Args:
        obj: a mapping, a collection of mappings, or any other value.
        dct_class: the mapping class to build (``DotDict`` unless given).

    Returns:
        ``obj`` with its mappings converted.
    """
    if isinstance(obj, (list, tuple, set)):
        return type(obj)(as_nested_dict(item, dct_class) for item in obj)
    if isinstance(obj, (dict, DotDict)):
        # Fill after construction: a key named "update" must not shadow the method first.
        new = dct_class()
        converted = {key: as_nested_dict(value, dct_class) for key, value in Mapping.items(obj)}
        MutableMapping.update(new, converted)
        return new
    return obj


def to_dotdict(obj: Any) -> Any:
    """Convert ``obj`` and every mapping inside it to :class:`DotDict`.

    Args:
        obj: a mapping, a collection of mappings, or any other value.

    Returns:
        The same as ``as_nested_dict(obj, DotDict)``.
    """
    return as_nested_dict(obj, DotDict)


class CompoundKey(tuple[Any, ...]):
    """The path of keys to a value in a flattened dictionary, e.g. ``("engine", "executor")``."""


def dict_to_flatdict(dct: Mapping[Any, Any], parent: CompoundKey | None = None) -> dict[Any, Any]:
    """Flatten a nested mapping into ``{CompoundKey(path): leaf value}``.

    Args:
        dct: the nested mapping; nested ``dict`` s and ``DotDict`` s are walked.
        parent: the path of ``dct`` itself (used by the recursion; leave unset).

    Returns:
        A flat ``dict`` keyed by :class:`CompoundKey`.
    """
    prefix = parent or CompoundKey()
    flat: dict[Any, Any] = {}
    for key, value in Mapping.items(dct):
        path = CompoundKey((*prefix, key))
        if isinstance(value, (dict, DotDict)):
            flat.update(dict_to_flatdict(value, parent=path))
        else:
            flat[path] = value
    return flat


def flatdict_to_dict(
    dct: Mapping[Any, Any], dct_class: type[MutableMapping[Any, Any]] | None = None
) -> Any:
    """Rebuild a nested mapping from a flat one made by :func:`dict_to_flatdict`.

    Keys that are not :class:`CompoundKey` s are copied to the top level as they are.

    Args:
        dct: the flat mapping.
        dct_class: the mapping class for every level (``dict`` unless given).

    Returns:
        The nested mapping.
    """
    make = dct_class or dict
    result = make()
    for key, value in dct.items():
        if isinstance(key, CompoundKey):
            level = result
            for part in key[:-1]:
                child = Mapping.get(level, part)
                if not isinstance(child, MutableMapping):
                    child = make()
                    level[part] = child
                level = child
            level[key[-1]] = value
        else:
            result[key] = value
    return result

"""The base class of environments."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from lockgate.core.flow import Flow
    from lockgate.engine.state import State

__all__ = ["Environment"]


class Environment:
    """Describes how to run a flow: build it for a flow, then run it, here or elsewhere.

    An environment is created first with what is known up front; :meth:`build` then takes
    the flow and returns a new environment holding everything needed to run it.
    :meth:`serialize` / :meth:`to_file` write that down as JSON, and
    :func:`lockgate.utilities.environments.from_file` reads it back.

    Subclasses implement :meth:`build` and :meth:`run`, and list in ``serialized_fields``
    the attributes that :meth:`serialize` writes (``bytes`` values are written as text).
    """

    serialized_fields: ClassVar[tuple[str, ...]] = ()
    _by_name: ClassVar[dict[str, type[Environment]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Environment._by_name[cls.__name__] = cls

    def __init__(self) -> None:
        pass

    def build(self, flow: Flow) -> Environment:
        """Return a new environment that can run ``flow``.

        Args:
            flow: the flow to package.

        Returns:
            A new environment of the same kind; this one is left unchanged.

        Raises:
            NotImplementedError: in the base class.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement build().")

    def setup(self) -> None:
        """Prepare the infrastructure the environment needs (nothing for local ones)."""

    def execute(self) -> None:
        """Run the environment on the infrastructure made by :meth:`setup` (nothing here)."""

    def run(self) -> State:
        """Run the flow held by this environment.

        Returns:
            The flow run's final state.

        Raises:
            NotImplementedError: in the base class.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement run().")

    def serialize(self) -> dict[str, Any]:
        """Describe the environment as a JSON-compatible dict.

        Returns:
            ``{"type": <class name>, "__version__": <lockgate version>, ...fields}``, with
            ``bytes`` fields written as ASCII text.
        """
        from lockgate import __version__

        data: dict[str, Any] = {"type": type(self).__name__, "__version__": __version__}
        for field in self.serialized_fields:
            value = getattr(self, field)
            data[field] = value.decode("ascii") if isinstance(value, bytes) else value
        return data

    def to_file(self, path: str) -> None:
        """Write :meth:`serialize`'s description to ``path`` as JSON.

        Args:
            path: the file to write (replaced if it exists).
        """
        with open(path, "w", encoding="utf-8") as file:
            json.dump(self.serialize(), file)

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Environment:
        """Rebuild an environment from :meth:`serialize`'s description.

        Args:
            data: the description (``type`` names the environment class).

        Returns:
            An environment of the class named by ``data["type"]``.

        Raises:
            ValueError: when ``data`` names no known environment class.
        """
        kind = data.get("type")
        env_cls = Environment._by_name.get(kind) if isinstance(kind, str) else None
        if env_cls is None:
            known = ", ".join(sorted(Environment._by_name)) or "none"
            raise ValueError(
                f"Cannot load an environment of type {kind!r}: lockgate knows {known}. "
                "Was the file written by Environment.to_file()?"
            )
        return env_cls._from_fields({f: data.get(f) for f in env_cls.serialized_fields})

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> Environment:
        return cls(**fields)

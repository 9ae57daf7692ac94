"""Read environments back from the files :meth:`Environment.to_file` writes."""

from __future__ import annotations

import json

from lockgate.environments.environment import Environment

__all__ = ["from_file"]


def from_file(path: str) -> Environment:
    """Load an environment written by :meth:`~lockgate.environments.Environment.to_file`.

    Args:
        path: the JSON file to read.

    Returns:
        The environment, of the class the file names (e.g. ``LocalEnvironment``).

    Raises:
        ValueError: if the file names no known environment class.
        OSError: if the file cannot be read.
        json.JSONDecodeError: if the file is not JSON.
    """
    import lockgate.environments  # noqa: F401  (registers the built-in environment classes)

    with open(path, encoding="utf-8") as file:
        return Environment.deserialize(json.load(file))

"""Read one setting of ``lockgate.config`` without failing when it is absent."""

from __future__ import annotations

from typing import Any


def config_value(dotted_key: str, default: Any) -> Any:
    """Return the setting at ``dotted_key`` (e.g. ``"cloud.use_local_secrets"``).

    Read at call time, so temporary configuration (``set_temporary_config``) and
    monkeypatched values are seen.

    Args:
        dotted_key: section names and the key, joined by dots.
        default: returned when the configuration or the key does not exist.

    Returns:
        The configured value, or ``default``.
    """
    import lockgate

    node: Any = getattr(lockgate, "config", None)
    if node is None:
        return default
    for part in dotted_key.split("."):
        try:
            node = node[part]
        except (KeyError, TypeError, IndexError):
            try:
                node = getattr(node, part)
            except AttributeError:
                return default
    return node

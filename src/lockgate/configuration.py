"""lockgate's settings: ``lockgate.config``.

The settings are read once, when lockgate is imported, from three places; a later
place wins over an earlier one:

1. the package defaults, ``config.toml`` next to this module;
2. your own file, ``config.toml`` in the lockgate home directory (``~/.lockgate``,
   or ``$LOCKGATE_HOME``); the setting ``user_config_path`` names another file, and an
   empty ``user_config_path`` reads none;
3. environment variables ``LOCKGATE__<SECTION>__<KEY>=value``, for example
   ``LOCKGATE__TASKS__DEFAULTS__MAX_RETRIES=3``. Their values are typed:
   ``true``/``false`` (any case) become booleans, ``none`` becomes ``None``, whole
   numbers ``int``, decimals ``float``; anything else stays a string.

Values may refer to other settings (``"${engine.executor.dask.address}"``), to
environment variables (``"$HOME/data"``) and to the user's home (``"~/data"``).
Read settings by attribute or with :meth:`Config.get_nested`::

    import lockgate

    lockgate.config.logging.level                      # "INFO"
    lockgate.config.get_nested("tasks.defaults.max_retries")

Change them for a block of code with
:func:`lockgate.utilities.configuration.set_temporary_config`.
``docs/configuration.md`` lists every setting.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, cast

from lockgate.utilities import collections

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]

__all__ = [
    "DEFAULT_CONFIG",
    "ENV_VAR_PREFIX",
    "SHORTHAND_ENV_VARS",
    "Config",
    "config",
    "create_user_config",
    "interpolate_env_var",
    "load_config_file",
    "load_configuration",
    "process_task_defaults",
    "string_to_type",
    "validate_config",
]

DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), "config.toml")
"""The path of the package's default settings file."""

ENV_VAR_PREFIX = "LOCKGATE"
"""Environment variables ``LOCKGATE__SECTION__KEY`` set the setting ``section.key``."""

SHORTHAND_ENV_VARS: dict[str, str] = {"LOCKGATE_HOME": "home_dir"}
"""Older single-name variables read when the settings are loaded, and the setting each
sets (they win over ``LOCKGATE__...`` variables). ``LOCKGATE_EXECUTOR``,
``LOCKGATE_STORE``, ``LOCKGATE_STORE_URL`` and ``LOCKGATE_STORE_WRITER`` are read each
time they are needed instead, so they can be changed while a program runs."""

INTERPOLATION_REGEX = re.compile(r"\${(.[^${}]*)}")
"""A reference to another setting: ``${section.key}`` (innermost references first)."""

_ENV_REFERENCE = re.compile(r"\$(\w+)|\$\{([^${}]*)\}")
_ESCAPES = re.compile(r"\\([nrt\\])")
_ESCAPED = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}
_MAX_ROUNDS = 10


class Config(collections.DotDict):
    """A section of settings: a :class:`~lockgate.utilities.collections.DotDict` whose
    nested sections are ``Config`` s too.

    Any name may be a setting (even ``update`` or ``keys``), so reach the mapping
    methods of a section that has such a setting through ``dict`` -style calls on a
    copy, or avoid those names.
    """

    __protect_critical_keys__ = False

    def copy(self) -> Config:
        """Return a copy in which every nested ``Config`` is copied too.

        Values that are not sections (lists, objects) are shared, not copied.

        Returns:
            The new ``Config``.
        """
        new = Config()
        # Mapping.items, not self.items: a setting may be called "items".
        for key, value in Mapping.items(self):
            new[key] = value.copy() if isinstance(value, Config) else value
        return new

    def get_nested(self, key: str, default: Any = None) -> Any:
        """Return the setting at a dotted path such as ``"engine.executor.default_class"``.

        Args:
            key: the path, sections separated by ``.``.
            default: what to return when any part of the path is missing.

        Returns:
            The value, or ``default``.
        """
        value: Any = self
        for part in key.split("."):
            if not isinstance(value, Config) or part not in value:
                return default
            value = value[part]
        return value

    def set_nested(self, key: str, value: Any) -> None:
        """Set the setting at a dotted path, creating the sections on the way.

        A value that stands where a section is needed is replaced by a section.

        Args:
            key: the path, sections separated by ``.``.
            value: the value to set.
        """
        *sections, name = key.split(".")
        level = self
        for part in sections:
            child = Mapping.get(level, part)
            if not isinstance(child, Config):
                child = Config()
                level[part] = child
            level = child
        level[name] = value

    def setdefault_nested(self, key: str, value: Any) -> Any:
        """Set the setting at a dotted path unless it is already set.

        Args:
            key: the path, sections separated by ``.``.
            value: the value to set when the setting is missing.

        Returns:
            The setting's value afterwards.
        """
        *sections, name = key.split(".")
        level: Any = self
        for part in sections:
            level = MutableMapping.setdefault(level, part, Config())
        if name not in level:
            level[name] = value
        return level[name]


def string_to_type(val: str) -> bool | int | float | str | None:
    """Type the text of an environment variable.

    ``"true"`` / ``"false"`` (any case) become booleans, ``"none"`` (any case) becomes
    ``None``, text that reads back as the same ``int`` or ``float`` becomes that
    number (so ``"007"`` and ``"1e3"`` stay text); anything else is returned unchanged.

    Args:
        val: the text.

    Returns:
        The typed value.
    """
    lowered = val.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered == "none":
        return None
    for number_type in (int, float):
        try:
            number = number_type(val)
        except ValueError:
            continue
        if str(number) == val:
            return number
    return val


def _expand_env(value: str, env: Mapping[str, str], config_keys: frozenset[str]) -> str:
    """Replace ``$NAME`` / ``${NAME}`` by environment variables and a leading ``~``.

    References to unknown variables are left as written; so is ``${name}`` when
    ``name`` is a setting (it is a reference to that setting, resolved later).
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if match.group(2) is not None and name in config_keys:
            return match.group(0)
        return env.get(name, match.group(0))

    for _ in range(_MAX_ROUNDS):
        expanded = os.path.expanduser(_ENV_REFERENCE.sub(replace, value))
        if expanded == value:
            break
        value = expanded
    return value


def interpolate_env_var(env_var: Any, env: Mapping[str, str] | None = None) -> Any:
    """Expand environment variables (``$NAME``, ``${NAME}``) and a leading ``~`` in text.

    Expansion repeats until nothing changes, so a variable whose value refers to
    another variable is expanded fully. References to unknown variables are kept as
    written. Values that are not text are returned unchanged.

    Args:
        env_var: the value to expand.
        env: the environment to read (``os.environ`` unless given).

    Returns:
        The expanded text (still text: it is not typed), or ``env_var`` unchanged.
    """
    if not isinstance(env_var, str) or not env_var:
        return env_var
    return _expand_env(env_var, os.environ if env is None else env, frozenset())


def create_user_config(dest_path: str, source_path: str = DEFAULT_CONFIG) -> None:
    """Write a copy of the default settings to ``dest_path`` for you to edit.

    Args:
        dest_path: where to write (``~`` and ``$VARS`` are expanded); missing
            directories are created.
        source_path: the file to copy (the package defaults unless given).

    Raises:
        ValueError: when ``dest_path`` already exists (it is never overwritten).
    """
    dest = str(interpolate_env_var(dest_path))
    if os.path.exists(dest):
        raise ValueError(
            f"File already exists: {dest}; edit it, or remove it to start again from the defaults."
        )
    directory = os.path.dirname(dest)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(source_path, encoding="utf-8") as source, open(dest, "w", encoding="utf-8") as out:
        out.write(source.read())


# -- processing ----------------------------------------------------------------------------


def _seconds_to_timedelta(value: Any, setting: str) -> datetime.timedelta | None:
    if value is None or value is False:
        return None
    if isinstance(value, datetime.timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.timedelta(seconds=value)
    raise ValueError(
        f"Setting {setting} = {value!r} is not a number of seconds; set it to a number "
        f"such as 10, or to false for none (environment variable "
        f"{_env_name(setting)})."
    )


def process_task_defaults(config: Config) -> Config:
    """Turn the ``tasks.defaults`` settings into the values ``Task`` uses.

    ``max_retries`` that is unset, ``false`` or ``None`` becomes ``0``;
    ``retry_delay`` and ``timeout`` that are unset, ``false`` or ``None`` become
    ``None``, and numbers of seconds become ``timedelta`` s. ``checkpoint`` is left
    as it is.

    Args:
        config: the settings; modified in place.

    Returns:
        The same ``config``.

    Raises:
        ValueError: when ``retry_delay`` or ``timeout`` is neither a number, a
            ``timedelta``, ``false`` nor ``None``.
    """
    defaults = config.setdefault_nested("tasks.defaults", Config())
    defaults["max_retries"] = defaults.get("max_retries") or 0
    for name in ("retry_delay", "timeout"):
        defaults[name] = _seconds_to_timedelta(defaults.get(name), f"tasks.defaults.{name}")
    return config


def _env_name(setting: str) -> str:
    return "__".join([ENV_VAR_PREFIX, *(part.upper() for part in setting.split("."))])


def validate_config(config: Config) -> None:
    """Check the settings lockgate itself reads, so a typo fails early and clearly.

    Args:
        config: the settings.

    Raises:
        ValueError: for a ``logging.level`` that is not a logging level name, or a
            ``tasks.defaults.max_retries`` that is not a whole number >= 0 (nor
            ``false``).
    """
    level = config.get_nested("logging.level")
    known_level = isinstance(level, int) or isinstance(
        logging.getLevelName(str(level).upper()), int
    )
    if level is not None and not known_level:
        raise ValueError(
            f"Setting logging.level = {level!r} is not a logging level; use DEBUG, "
            f"INFO, WARNING, ERROR or CRITICAL (environment variable "
            f"{_env_name('logging.level')})."
        )
    retries = config.get_nested("tasks.defaults.max_retries")
    if retries not in (None, False) and (
        isinstance(retries, bool) or not isinstance(retries, int) or retries < 0
    ):
        raise ValueError(
            f"Setting tasks.defaults.max_retries = {retries!r} is not a whole number "
            f">= 0; use e.g. 3, or false for none (environment variable "
            f"{_env_name('tasks.defaults.max_retries')})."
        )


# -- loading -------------------------------------------------------------------------------


def _unescape(text: str) -> str:
    # A shell passes "\n" through as two characters; turn the common escapes into the
    # characters they name (only these four, so other backslashes and non-ASCII text
    # are kept as written).
    return _ESCAPES.sub(lambda match: _ESCAPED[match.group(1)], text)


def load_config_file(
    path: str,
    env_var_prefix: str | None = None,
    env: Mapping[str, str] | None = None,
    shorthands: Mapping[str, str] | None = None,
    base: Config | None = None,
) -> Config:
    """Read one TOML settings file, apply environment variables and resolve references.

    Top-level section names are lower-cased (``[Logging]`` is ``logging``); keys
    inside sections keep their case. Then, in order:

    * each variable ``<env_var_prefix>__SECTION__KEY`` of ``env`` sets ``section.key``
      (lower-cased), its value unescaped (``\\n``, ``\\r``, ``\\t``, ``\\\\``),
      expanded and typed by :func:`string_to_type`;
    * each variable named in ``shorthands`` sets the setting it maps to;
    * ``$NAME`` / ``${NAME}`` and a leading ``~`` in text values are expanded;
    * ``${section.key}`` references to other settings are replaced: a value that is
      only a reference takes the referenced value with its type, a reference inside
      longer text is formatted into it; a reference to a missing setting is ``""``.

    Args:
        path: the TOML file (``~`` and ``$VARS`` are expanded).
        env_var_prefix: the prefix of the variables that set settings; none are
            read when not given.
        env: where to read the ``<env_var_prefix>__...`` and shorthand variables
            (``os.environ`` unless given); ``$NAME`` references always read
            ``os.environ``.
        shorthands: single-name variables and the dotted setting each sets.
        base: settings this file will be merged into; ``${section.key}`` references
            to settings the file does not hold are looked up there.

    Returns:
        The settings, as a :class:`Config`.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: when the file is not valid TOML (the message names the file).
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    file_path = str(interpolate_env_var(path))
    try:
        with open(file_path, "rb") as handle:
            raw = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"Settings file {file_path} is not valid TOML: {exc}") from None
    flat = collections.dict_to_flatdict({key.lower(): value for key, value in raw.items()})

    if env_var_prefix:
        marker = env_var_prefix + "__"
        for name, text in environ.items():
            if not name.startswith(marker) or len(name) == len(marker):
                continue
            setting = collections.CompoundKey(name[len(marker) :].lower().split("__"))
            flat[setting] = string_to_type(interpolate_env_var(_unescape(text)))
    for name, setting_path in (shorthands or {}).items():
        if environ.get(name):
            flat[collections.CompoundKey(setting_path.split("."))] = environ[name]

    base_flat = collections.dict_to_flatdict(base) if base is not None else {}
    setting_names = frozenset(".".join(map(str, key)) for key in (*flat, *base_flat))
    for key, value in flat.items():
        if isinstance(value, str) and value:
            flat[key] = _expand_env(value, os.environ, setting_names)

    _resolve_references(flat, base_flat)
    return cast(Config, collections.flatdict_to_dict(flat, dct_class=Config))


def _resolve_references(flat: dict[Any, Any], base_flat: Mapping[Any, Any]) -> None:
    """Replace ``${section.key}`` references in place, innermost first."""
    pending = {key for key, value in flat.items() if isinstance(value, str)}
    for _ in range(_MAX_ROUNDS):
        if not pending:
            return
        for key in list(pending):
            value = flat[key]
            match = INTERPOLATION_REGEX.search(value) if isinstance(value, str) else None
            if match is None:
                pending.discard(key)
                continue
            reference, path = match.group(0), match.group(1)
            path_key = collections.CompoundKey(path.split("."))
            target = flat[path_key] if path_key in flat else base_flat.get(path_key, "")
            flat[key] = target if value == reference else value.replace(reference, str(target), 1)


def load_configuration(
    config_path: str,
    env_var_prefix: str | None = None,
    merge_into_config: Config | None = None,
    env: Mapping[str, str] | None = None,
    shorthands: Mapping[str, str] | None = None,
) -> Config:
    """Load a settings file (see :func:`load_config_file`), optionally over other settings.

    Args:
        config_path: the TOML file.
        env_var_prefix: the prefix of the variables that set settings.
        merge_into_config: settings the file's settings are merged into (a copy is
            made; the file wins, section by section).
        env: where to read the setting variables (``os.environ`` unless given).
        shorthands: single-name variables and the dotted setting each sets.

    Returns:
        The settings.

    Raises:
        FileNotFoundError: when ``config_path`` does not exist.
        ValueError: when the file is not valid TOML or a setting lockgate reads has a
            bad value (see :func:`validate_config`).
    """
    loaded = load_config_file(
        config_path,
        env_var_prefix=env_var_prefix,
        env=env,
        shorthands=shorthands,
        base=merge_into_config,
    )
    if merge_into_config is not None:
        loaded = collections.merge_dicts(merge_into_config, loaded)
    validate_config(loaded)
    return loaded


def _load_lockgate_config() -> Config:
    """The settings lockgate runs with: defaults, then the user's file, then variables."""
    settings = load_configuration(
        DEFAULT_CONFIG, env_var_prefix=ENV_VAR_PREFIX, shorthands=SHORTHAND_ENV_VARS
    )
    user_path = settings.get("user_config_path")
    if user_path and isinstance(user_path, str) and os.path.isfile(user_path):
        # Variables are applied again so they win over the user's file as well.
        settings = load_configuration(
            user_path,
            env_var_prefix=ENV_VAR_PREFIX,
            merge_into_config=settings,
            shorthands=SHORTHAND_ENV_VARS,
        )
    return process_task_defaults(settings)


config: Config = _load_lockgate_config()
"""lockgate's settings (also ``lockgate.config``)."""

"""lockgate.config: where settings come from, how they are typed and resolved, and what reads them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import lockgate
from lockgate import Flow, Task, configuration
from lockgate.configuration import Config, load_config_file, load_configuration
from lockgate.utilities.configuration import set_temporary_config

# -- loading in a fresh interpreter: defaults < user file < environment ------------------------

PROBE = textwrap.dedent(
    """
    import json, lockgate
    from lockgate.configuration import Config
    c = lockgate.config
    print(json.dumps({
        "level": c.logging.level,
        "retries": c.tasks.defaults.max_retries,
        "delay": c.tasks.defaults.retry_delay and c.tasks.defaults.retry_delay.total_seconds(),
        "executor": c.engine.executor.default_class,
        "home": c.home_dir,
        "user_config_path": c.user_config_path,
        "team": c.get_nested("team.name"),
        "secrets": (c.get_nested("context.secrets") or Config()).to_dict(),
    }))
    """
)


def fresh_environ(home: Path, **env: str) -> dict[str, str]:
    """This process's environment without its LOCKGATE variables, with ``home`` and ``env``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LOCKGATE")}
    environ.update({"LOCKGATE_HOME": str(home), **env})
    return environ


def load_in_fresh_python(home: Path, **env: str) -> dict[str, Any]:
    environ = fresh_environ(home, **env)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], env=environ, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    loaded: dict[str, Any] = json.loads(proc.stdout)
    return loaded


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "lockgate-home"
    path.mkdir()
    return path


class TestPrecedence:
    def test_package_defaults(self, home: Path) -> None:
        loaded = load_in_fresh_python(home)
        assert loaded["level"] == "INFO"
        assert loaded["retries"] == 0
        assert loaded["delay"] is None
        assert loaded["executor"] == "lockgate.engine.executors.LocalExecutor"
        assert loaded["home"] == str(home)
        assert loaded["user_config_path"] == str(home / "config.toml")

    def test_user_file_in_the_home_beats_defaults(self, home: Path) -> None:
        (home / "config.toml").write_text(
            textwrap.dedent(
                """
                [logging]
                level = "DEBUG"

                [tasks.defaults]
                max_retries = 2
                retry_delay = 15

                [team]
                name = "data-eng"

                [context.secrets]
                API_TOKEN = "from-file"
                """
            )
        )
        loaded = load_in_fresh_python(home)
        assert loaded["level"] == "DEBUG"
        assert loaded["retries"] == 2
        assert loaded["delay"] == 15.0
        assert loaded["team"] == "data-eng"
        assert loaded["secrets"] == {"API_TOKEN": "from-file"}
        assert loaded["executor"] == "lockgate.engine.executors.LocalExecutor"  # untouched

    def test_environment_beats_the_user_file(self, home: Path) -> None:
        (home / "config.toml").write_text('[logging]\nlevel = "DEBUG"\n[team]\nname = "a"\n')
        loaded = load_in_fresh_python(
            home,
            LOCKGATE__LOGGING__LEVEL="ERROR",
            LOCKGATE__TEAM__NAME="b",
            LOCKGATE__ENGINE__EXECUTOR__DEFAULT_CLASS="threads:4",
        )
        assert loaded["level"] == "ERROR"
        assert loaded["team"] == "b"
        assert loaded["executor"] == "threads:4"

    def test_user_config_path_names_another_file_or_none(self, home: Path, tmp_path: Path) -> None:
        elsewhere = tmp_path / "team.toml"
        elsewhere.write_text('[team]\nname = "elsewhere"\n')
        (home / "config.toml").write_text('[team]\nname = "home"\n')
        assert load_in_fresh_python(home, LOCKGATE__USER_CONFIG_PATH=str(elsewhere))["team"] == (
            "elsewhere"
        )
        assert load_in_fresh_python(home, LOCKGATE__USER_CONFIG_PATH="")["team"] is None

    def test_a_bad_user_file_names_itself(self, home: Path) -> None:
        (home / "config.toml").write_text("[logging\nlevel = 1\n")
        proc = subprocess.run(
            [sys.executable, "-c", "import lockgate"],
            env=fresh_environ(home),
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode != 0
        assert f"{home / 'config.toml'} is not valid TOML" in proc.stderr

    def test_a_bad_level_names_the_setting_and_variable(self, home: Path) -> None:
        proc = subprocess.run(
            [sys.executable, "-c", "import lockgate"],
            env=fresh_environ(home, LOCKGATE__LOGGING__LEVEL="LOUD"),
            capture_output=True,
            text=True,
            check=False,
        )
        assert "Setting logging.level = 'LOUD' is not a logging level" in proc.stderr
        assert "LOCKGATE__LOGGING__LEVEL" in proc.stderr


# -- one file: sections, variables, references -------------------------------------------------


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(
        textwrap.dedent(
            """
            [Service]
            Host = "db.internal"
            port = 5432
            url = "postgres://${service.Host}:${service.port}/app"
            same_port = "${service.port}"
            missing = "${service.nowhere}"

            [paths]
            data = "~/data"
            cache = "$LOCKGATE_TEST_CACHE/cache"
            literal = "price$5"
            pick = "url"
            picked = "${service.${paths.pick}}"
            """
        )
    )
    return path


class TestOneFile:
    def test_section_names_are_lowercased_keys_are_not(self, settings_file: Path) -> None:
        loaded = load_config_file(str(settings_file), env={})
        assert "service" in loaded
        assert loaded.service.Host == "db.internal"
        assert isinstance(loaded.service, Config)

    def test_references_to_other_settings(self, settings_file: Path) -> None:
        loaded = load_config_file(str(settings_file), env={})
        assert loaded.service.url == "postgres://db.internal:5432/app"
        assert loaded.service.same_port == 5432  # a whole-value reference keeps the type
        assert loaded.service.missing == ""
        assert loaded.paths.picked == "postgres://db.internal:5432/app"

    def test_environment_and_home_expansion(
        self, settings_file: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("LOCKGATE_TEST_CACHE", "/var/tmp")
        loaded = load_config_file(str(settings_file), env={})
        assert loaded.paths.data == os.path.expanduser("~/data")
        assert loaded.paths.cache == "/var/tmp/cache"
        assert loaded.paths.literal == "price$5"

    def test_variables_set_and_type_settings(self, settings_file: Path) -> None:
        env = {
            "APP__SERVICE__PORT": "6543",
            "APP__SERVICE__TLS": "TRUE",
            "APP__SERVICE__RATIO": "0.25",
            "APP__SERVICE__OWNER": "none",
            "APP__SERVICE__ZIP": "02139",
            "APP__NEW__DEEP__KEY": "created",
            "APP__BANNER": r"line 1\nline 2\tend",
            "OTHER__SERVICE__PORT": "1",
            "APP__": "ignored",
        }
        loaded = load_config_file(str(settings_file), env_var_prefix="APP", env=env)
        assert loaded.service.port == 6543
        assert loaded.service.url == "postgres://db.internal:6543/app"  # references see it
        assert loaded.service.tls is True
        assert loaded.service.ratio == 0.25
        assert loaded.service.owner is None
        assert loaded.service.zip == "02139"  # leading zero: stays text
        assert loaded.new.deep.key == "created"
        assert loaded.banner == "line 1\nline 2\tend"

    def test_string_to_type(self) -> None:
        cases = {
            "true": True,
            "False": False,
            "NONE": None,
            "12": 12,
            "-3": -3,
            "2.5": 2.5,
            "1e3": "1e3",
            "1_000": "1_000",
            "text": "text",
            "": "",
        }
        for text, expected in cases.items():
            assert configuration.string_to_type(text) == expected, text
            assert type(configuration.string_to_type(text)) is type(expected)

    def test_merged_file_can_refer_to_the_base(self, tmp_path: Path) -> None:
        base = Config()
        base.set_nested("service.host", "db.internal")
        overlay = tmp_path / "overlay.toml"
        overlay.write_text('[service]\nurl = "pg://${service.host}"\n')
        merged = load_configuration(str(overlay), merge_into_config=base)
        assert merged.service.url == "pg://db.internal"
        assert merged.service.host == "db.internal"
        assert "url" not in base.service

    def test_create_user_config_copies_defaults_once(self, tmp_path: Path) -> None:
        target = tmp_path / "new-home" / "config.toml"
        configuration.create_user_config(str(target))
        assert target.read_text() == Path(configuration.DEFAULT_CONFIG).read_text()
        with pytest.raises(ValueError, match="File already exists"):
            configuration.create_user_config(str(target))


class TestConfigObject:
    def test_nested_get_set_setdefault(self) -> None:
        settings = Config()
        settings.set_nested("a.b.c", 1)
        settings.set_nested("a.b", {"replaced": True})
        settings.set_nested("a.b.c", 2)  # a value on the way is replaced by a section
        assert settings.a.b.c == 2
        assert settings.get_nested("a.b.c") == 2
        assert settings.get_nested("a.x.y", "fallback") == "fallback"
        assert settings.setdefault_nested("a.b.c", 3) == 2
        assert settings.setdefault_nested("a.new", 4) == 4

    def test_copy_copies_sections_not_values(self) -> None:
        settings = Config()
        settings.set_nested("s.items", [1])
        copied = settings.copy()
        copied.s.other = 1
        copied.s["items"].append(2)
        assert "other" not in settings.s
        assert settings.s["items"] == [1, 2]

    def test_any_setting_name_is_allowed(self) -> None:
        settings = Config(update="yes")
        assert settings.update == "yes"
        with pytest.raises(AttributeError, match="Config has no key 'missing'"):
            settings.missing  # noqa: B018


class TestProcessTaskDefaults:
    @pytest.mark.parametrize("value", [None, False, 0])
    def test_no_retries(self, value: Any) -> None:
        settings = Config()
        settings.set_nested("tasks.defaults.max_retries", value)
        assert configuration.process_task_defaults(settings).tasks.defaults.max_retries == 0

    def test_seconds_become_timedeltas(self) -> None:
        settings = Config()
        settings.set_nested("tasks.defaults.retry_delay", 90)
        settings.set_nested("tasks.defaults.timeout", 2.5)
        defaults = configuration.process_task_defaults(settings).tasks.defaults
        assert defaults.retry_delay == timedelta(seconds=90)
        assert defaults.timeout == timedelta(seconds=2.5)

    def test_unset_means_none(self) -> None:
        defaults = configuration.process_task_defaults(Config()).tasks.defaults
        assert defaults.retry_delay is None
        assert defaults.timeout is None

    def test_bad_value_names_the_setting(self) -> None:
        settings = Config()
        settings.set_nested("tasks.defaults.retry_delay", "soon")
        with pytest.raises(ValueError, match=r"tasks\.defaults\.retry_delay = 'soon'"):
            configuration.process_task_defaults(settings)


# -- set_temporary_config ---------------------------------------------------------------------


class TestSetTemporaryConfig:
    def test_sets_and_restores_everything(self) -> None:
        before = lockgate.config.to_dict()
        with set_temporary_config({"logging.level": "DEBUG", "made.up.key": 1}) as active:
            assert active is lockgate.config
            assert lockgate.config.logging.level == "DEBUG"
            assert lockgate.config.made.up.key == 1
            lockgate.config.set_nested("logging.format", "changed inside")
        assert lockgate.config.to_dict() == before
        assert "made" not in lockgate.config

    def test_restores_after_an_exception(self) -> None:
        with pytest.raises(RuntimeError), set_temporary_config({"debug": True}):
            raise RuntimeError("boom")
        assert lockgate.config.debug is False

    def test_nests(self) -> None:
        with set_temporary_config({"x": 1}):
            with set_temporary_config({"x": 2}):
                assert lockgate.config.x == 2
            assert lockgate.config.x == 1


# -- what reads the settings ------------------------------------------------------------------


class TestTaskDefaults:
    def test_arguments_not_given_come_from_the_settings(self) -> None:
        with set_temporary_config(
            {
                "tasks.defaults.max_retries": 3,
                "tasks.defaults.retry_delay": timedelta(seconds=4),
                "tasks.defaults.timeout": timedelta(seconds=5),
                "tasks.defaults.checkpoint": True,
            }
        ):
            configured = Task()
            explicit = Task(max_retries=0, timeout=1.5, checkpoint=False)
        assert configured.max_retries == 3
        assert configured.retry_delay == timedelta(seconds=4)
        assert configured.timeout == 5.0
        assert configured.checkpoint is True
        assert explicit.max_retries == 0
        assert explicit.timeout == 1.5
        assert explicit.checkpoint is False
        plain = Task()
        assert (plain.max_retries, plain.retry_delay, plain.timeout) == (0, None, None)
        assert plain.checkpoint is None  # unset: the run store keeps the result

    def test_retries_from_settings_without_a_delay_say_where_they_came_from(self) -> None:
        with (
            set_temporary_config({"tasks.defaults.max_retries": 2}),
            pytest.raises(ValueError, match=r"from the setting tasks\.defaults\.max_retries"),
        ):
            Task(name="flaky")

    def test_configured_retries_run(self) -> None:
        calls: list[int] = []

        class Flaky(Task):
            def run(self) -> int:
                calls.append(1)
                if len(calls) < 3:
                    raise RuntimeError("not yet")
                return len(calls)

        with set_temporary_config(
            {"tasks.defaults.max_retries": 2, "tasks.defaults.retry_delay": timedelta(0)}
        ):
            flaky = Flaky()
        flow = Flow("retrying", tasks=[flaky])
        state = flow.run()
        assert state.is_successful()
        assert state.result[flaky].result == 3


class TestEngineDefaults:
    def test_executor_from_the_setting_and_the_variable_wins(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from lockgate.engine.executors import (
            LocalExecutor,
            ThreadExecutor,
            default_executor,
        )

        monkeypatch.delenv("LOCKGATE_EXECUTOR", raising=False)
        assert isinstance(default_executor(), LocalExecutor)
        with set_temporary_config({"engine.executor.default_class": "threads:3"}):
            chosen = default_executor()
            assert isinstance(chosen, ThreadExecutor)
            assert chosen.max_workers == 3
            monkeypatch.setenv("LOCKGATE_EXECUTOR", "local")
            assert isinstance(default_executor(), LocalExecutor)
        monkeypatch.delenv("LOCKGATE_EXECUTOR")
        with set_temporary_config(
            {"engine.executor.default_class": "lockgate.engine.executors.ThreadExecutor"}
        ):
            assert isinstance(default_executor(), ThreadExecutor)
        with (
            set_temporary_config({"engine.executor.default_class": ThreadExecutor}),
        ):
            assert isinstance(default_executor(), ThreadExecutor)

    def test_a_bad_short_form_names_the_setting(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from lockgate.engine.executors import default_executor

        monkeypatch.delenv("LOCKGATE_EXECUTOR", raising=False)
        with (
            set_temporary_config({"engine.executor.default_class": "threads:many"}),
            pytest.raises(
                ValueError, match=r"Setting engine\.executor\.default_class='threads:many'"
            ),
        ):
            default_executor()

    def test_classes_from_settings_and_fallback_with_a_warning(self) -> None:
        from lockgate import engine
        from lockgate.engine.executors import LocalExecutor, ThreadExecutor
        from lockgate.engine.flow_runner import FlowRunner
        from lockgate.engine.result_handlers import JSONResultHandler, LocalResultHandler
        from lockgate.engine.task_runner import TaskRunner

        assert engine.get_default_executor_class() is LocalExecutor
        assert engine.get_default_flow_runner_class() is FlowRunner
        assert engine.get_default_task_runner_class() is TaskRunner
        assert engine.get_default_result_handler_class() is LocalResultHandler
        with set_temporary_config(
            {
                "engine.executor.default_class": "threads",
                "engine.result_handler.default_class": JSONResultHandler,
            }
        ):
            assert engine.get_default_executor_class() is ThreadExecutor
            assert engine.get_default_result_handler_class() is JSONResultHandler
        with set_temporary_config({"engine.task_runner.default_class": "no.such.Runner"}):
            with pytest.warns(UserWarning, match="'no.such.Runner' names nothing"):
                assert engine.get_default_task_runner_class() is TaskRunner

    def test_dask_executor_reads_its_settings(self) -> None:
        from lockgate.engine.executors import DaskExecutor

        with set_temporary_config(
            {
                "engine.executor.dask.address": "tcp://127.0.0.1:8786",
                "engine.executor.dask.local_processes": False,
            }
        ):
            configured = DaskExecutor()
        assert configured.address == "tcp://127.0.0.1:8786"
        assert configured.local_processes is False
        default = DaskExecutor()
        assert default.address is None  # "local": a LocalCluster per run
        assert default.local_processes is True


class TestFlowAndStoreSettings:
    def test_eager_edge_validation_validates_each_new_flow(self) -> None:
        checked: list[str] = []

        class Recorded(Flow):
            def validate(self) -> None:
                checked.append(self.name)
                super().validate()

        Recorded("default")
        with set_temporary_config({"flows.eager_edge_validation": True}):
            Recorded("eager")
            Recorded("opted-out", validate=False)
        assert checked == ["eager"]

    def test_cycles_are_refused_whatever_the_setting(self) -> None:
        first, second = Task(name="first"), Task(name="second")
        flow = Flow("cyclic")
        flow.add_edge(first, second)
        with set_temporary_config({"flows.eager_edge_validation": False}):
            with pytest.raises(ValueError):
                flow.add_edge(second, first)

    def test_store_locations_from_settings_and_variables_win(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from lockgate.store import paths

        monkeypatch.delenv("LOCKGATE_HOME", raising=False)
        monkeypatch.delenv("LOCKGATE_STORE_URL", raising=False)
        with set_temporary_config({"home_dir": str(tmp_path / "h"), "store.url": ""}):
            assert paths.default_home() == tmp_path / "h"
            assert paths.default_url() == f"sqlite:///{tmp_path / 'h' / 'store.db'}"
        with set_temporary_config({"store.url": "sqlite:////srv/runs.db"}):
            assert paths.default_url() == "sqlite:////srv/runs.db"
            monkeypatch.setenv("LOCKGATE_STORE_URL", "sqlite:////other.db")
            assert paths.default_url() == "sqlite:////other.db"
        monkeypatch.setenv("LOCKGATE_HOME", str(tmp_path / "env"))
        with set_temporary_config({"home_dir": str(tmp_path / "h")}):
            assert paths.default_home() == tmp_path / "env"

    def test_store_writer_setting(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from lockgate.store import StoreError
        from lockgate.store.recorder import writer_mode

        monkeypatch.delenv("LOCKGATE_STORE_WRITER", raising=False)
        assert writer_mode() == "process"
        with set_temporary_config({"store.writer": "thread"}):
            assert writer_mode() == "thread"
            monkeypatch.setenv("LOCKGATE_STORE_WRITER", "process")
            assert writer_mode() == "process"
        monkeypatch.delenv("LOCKGATE_STORE_WRITER")
        with (
            set_temporary_config({"store.writer": "disk"}),
            pytest.raises(StoreError, match=r"Setting store\.writer = 'disk'"),
        ):
            writer_mode()

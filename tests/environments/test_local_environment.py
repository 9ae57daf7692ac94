"""LocalEnvironment: a flow written to an encrypted file and run from there."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet, InvalidToken

from lockgate import Flow, Parameter, task
from lockgate.engine.flow_runner import FlowRunner
from lockgate.environments import Environment, LocalEnvironment
from lockgate.utilities.configuration import set_temporary_config
from lockgate.utilities.environments import from_file


def greeting_flow() -> Flow:
    # Tasks made inside a function are pickled by value, so the flow file does not depend on
    # this test module being importable where it is run.
    @task
    def greet(name: str) -> str:
        return f"hello {name}"

    @task
    def save(text: str, path: str) -> None:
        with open(path, "w") as file:
            file.write(text)

    with Flow("greeting") as flow:
        save(greet(Parameter("name")), Parameter("out"))
    return flow


def test_flow_written_to_a_file_runs_from_it(tmp_path):
    path = str(tmp_path / "greeting.json")
    LocalEnvironment().build(greeting_flow()).to_file(path)

    loaded = from_file(path)
    assert isinstance(loaded, LocalEnvironment)
    out = tmp_path / "out.txt"
    state = loaded.run(runner_kwargs={"parameters": {"name": "Ada", "out": str(out)}})
    assert state.is_successful()
    assert out.read_text() == "hello Ada"


def test_file_runs_in_another_process(tmp_path):
    path = tmp_path / "greeting.json"
    out = tmp_path / "out.txt"
    LocalEnvironment().build(greeting_flow()).to_file(str(path))
    code = (
        "import sys\n"
        "from lockgate.utilities.environments import from_file\n"
        "env = from_file(sys.argv[1])\n"
        "state = env.run({'parameters': {'name': 'Grace', 'out': sys.argv[2]}})\n"
        "print(state)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path), str(out)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'Success("All reference tasks succeeded.")'
    assert out.read_text() == "hello Grace"


def test_file_holds_the_key_and_the_encrypted_flow_as_json(tmp_path):
    key = Fernet.generate_key()
    env = LocalEnvironment(encryption_key=key).build(greeting_flow())
    path = tmp_path / "env.json"
    env.to_file(str(path))
    data = json.loads(path.read_text())
    assert data["type"] == "LocalEnvironment"
    assert data["encryption_key"] == key.decode()
    # encrypted, not just pickled: a plain pickle would hold the flow's name
    assert b"greeting" not in base64.b64decode(data["serialized_flow"])
    assert from_file(str(path)).serialized_flow == env.serialized_flow


class RecordingFlowRunner(FlowRunner):
    """A flow runner that notes the flows it ran."""

    ran: list[str] = []

    def run(self, *args, **kwargs):
        RecordingFlowRunner.ran.append(self.flow.name)
        return super().run(*args, **kwargs)


def test_run_uses_the_configured_flow_runner(tmp_path):
    env = LocalEnvironment().build(greeting_flow())
    setting = {"engine.flow_runner.default_class": f"{__name__}.RecordingFlowRunner"}
    with set_temporary_config(setting):
        state = env.run({"parameters": {"name": "Lin", "out": str(tmp_path / "o.txt")}})
    assert state.is_successful()
    assert RecordingFlowRunner.ran == ["greeting"]


def test_build_returns_a_new_environment_and_keeps_the_key():
    env = LocalEnvironment()
    built = env.build(greeting_flow())
    assert env.serialized_flow is None
    assert built.encryption_key == env.encryption_key
    assert built.serialized_flow


def test_failed_flow_reports_failure():
    @task
    def broken() -> None:
        raise RuntimeError("boom")

    flow = Flow("broken", tasks=[broken])
    assert LocalEnvironment().build(flow).run().is_failed()


def test_other_key_cannot_read_the_flow():
    data = LocalEnvironment().serialize_flow_to_bytes(greeting_flow())
    with pytest.raises(InvalidToken):
        LocalEnvironment().deserialize_flow_from_bytes(data)


def test_invalid_key_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Invalid encryption key 'secret'.*generate_key"):
        LocalEnvironment(encryption_key="secret")


def test_run_before_build_says_what_to_do():
    with pytest.raises(ValueError, match=r"No serialized flow found!.*build\(flow\)"):
        LocalEnvironment().run()


def test_unknown_environment_type_in_a_file(tmp_path):
    path = tmp_path / "env.json"
    path.write_text(json.dumps({"type": "DockerEnvironment"}))
    with pytest.raises(ValueError, match=r"type 'DockerEnvironment'.*LocalEnvironment"):
        from_file(str(path))


def test_base_environment_needs_a_subclass():
    with pytest.raises(NotImplementedError):
        Environment().build(greeting_flow())
    with pytest.raises(NotImplementedError):
        Environment().run()
    assert Environment().serialize()["type"] == "Environment"


def test_importing_environments_does_not_import_cryptography():
    code = "import sys, lockgate.environments; print('cryptography' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

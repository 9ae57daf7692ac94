"""A flow's environment: lazily a LocalEnvironment, serialized with the flow, written to a file."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest

from lockgate import Flow, Parameter, task
from lockgate.environments import Environment, LocalEnvironment
from lockgate.serialization.flow import FlowSchema
from lockgate.utilities.environments import from_file


def doubling_flow(**flow_kwargs: object) -> Flow:
    @task
    def double(n: int) -> int:
        return 2 * n

    @task
    def write(value: int, path: str) -> None:
        with open(path, "w") as file:
            file.write(str(value))

    with Flow("doubling", **flow_kwargs) as flow:  # type: ignore[arg-type]
        write(double(Parameter("n")), Parameter("out"))
    return flow


def test_default_environment_is_made_on_first_read_and_kept():
    flow = Flow("reports")
    assert flow._environment is None
    environment = flow.environment
    assert isinstance(environment, LocalEnvironment)
    assert flow.environment is environment


def test_given_environment_is_used_and_none_restores_the_default():
    key_holder = LocalEnvironment()
    flow = Flow("reports", environment=key_holder)
    assert flow.environment is key_holder
    flow.environment = None
    assert isinstance(flow.environment, LocalEnvironment)
    assert flow.environment is not key_holder


def test_environment_must_be_an_environment():
    with pytest.raises(TypeError, match=r"Flow 'reports': environment must be .*'local'"):
        Flow("reports", environment="local")  # type: ignore[arg-type]


def test_copy_keeps_the_environment():
    environment = LocalEnvironment()
    flow = doubling_flow(environment=environment)
    assert flow.copy().environment is environment


def test_building_a_flow_does_not_import_cryptography():
    code = (
        "import sys, lockgate\n"
        "from lockgate import Flow, Parameter, task\n"
        "@task\n"
        "def inc(x):\n"
        "    return x + 1\n"
        "with Flow('x') as flow:\n"
        "    inc(Parameter('p'))\n"
        "flow.copy()\n"
        "print(sorted(m for m in ('cryptography', 'lockgate.environments') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_serialize_writes_the_environment_unbuilt_unless_asked():
    environment = LocalEnvironment()
    flow = doubling_flow(environment=environment)

    plain = flow.serialize()
    assert plain["environment"]["type"] == "LocalEnvironment"
    # bytes fields are written base64-encoded
    assert base64.b64decode(plain["environment"]["encryption_key"]) == environment.encryption_key
    assert plain["environment"]["serialized_flow"] is None

    built = flow.serialize(build=True)
    assert base64.b64decode(built["environment"]["encryption_key"]) == environment.encryption_key
    assert built["environment"]["serialized_flow"]
    json.dumps(built)  # the whole document is JSON


def test_built_flow_loads_back_with_a_runnable_environment(tmp_path):
    flow = doubling_flow()
    loaded = FlowSchema().load(flow.serialize(build=True))
    assert isinstance(loaded, Flow)
    assert isinstance(loaded.environment, LocalEnvironment)
    assert loaded.environment.encryption_key == flow.environment.encryption_key

    out = tmp_path / "out.txt"
    state = loaded.environment.run({"parameters": {"n": 21, "out": str(out)}})
    assert state.is_successful()
    assert out.read_text() == "42"


def test_to_environment_file_writes_a_runnable_file(tmp_path):
    path = tmp_path / "doubling.json"
    out = tmp_path / "out.txt"
    doubling_flow().to_environment_file(str(path))

    written = json.loads(path.read_text())
    assert written["type"] == "LocalEnvironment"
    environment = from_file(str(path))
    state = environment.run({"parameters": {"n": 4, "out": str(out)}})
    assert state.is_successful()
    assert out.read_text() == "8"


def test_to_environment_file_uses_the_flows_own_environment(tmp_path):
    class Recording(Environment):
        built: list[Flow] = []

        def build(self, flow: Flow) -> Environment:
            Recording.built.append(flow)
            return self

    flow = Flow("reports", environment=Recording())
    flow.to_environment_file(str(tmp_path / "env.json"))
    assert Recording.built == [flow]
    assert json.loads((tmp_path / "env.json").read_text())["type"] == "Recording"

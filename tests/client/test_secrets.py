"""Local secrets, and the Cloud client placeholder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import lockgate
from lockgate import Flow, task
from lockgate.client import Client, Secret
from lockgate.utilities.exceptions import AuthorizationError, ClientError, CloudUnavailableError


def test_secret_comes_from_the_context_and_is_none_elsewhere():
    secret = Secret("API_TOKEN")
    assert secret.get() is None
    with lockgate.context(secrets={"API_TOKEN": "abc123"}):
        assert secret.get() == "abc123"
    assert secret.get() is None


def test_json_strings_are_decoded_and_other_strings_kept():
    with lockgate.context(
        secrets={"CONN": '{"host": "db", "port": 5432}', "PORT": "5432", "WORD": "not json"}
    ):
        assert Secret("CONN").get() == {"host": "db", "port": 5432}
        assert Secret("PORT").get() == 5432
        assert Secret("WORD").get() == "not json"


def test_a_task_reads_secrets_given_to_the_run():
    @task
    def connect() -> str:
        return f"user={Secret('DB_USER').get()}"

    with Flow("secret") as flow:
        result = connect()
    with lockgate.context(secrets={"DB_USER": "etl"}):
        state = flow.run()
    assert state.result[result].result == "user=etl"


def test_secrets_from_the_configuration(monkeypatch):
    monkeypatch.setitem(lockgate.config, "context", {"secrets": {"FROM_CONFIG": "[1, 2]"}})
    assert Secret("FROM_CONFIG").get() == [1, 2]
    with lockgate.context(secrets={"FROM_CONFIG": "context wins"}):
        assert Secret("FROM_CONFIG").get() == "context wins"


def test_secrets_from_environment_variables(tmp_path):
    env = {
        **os.environ,
        "LOCKGATE_HOME": str(tmp_path),
        "LOCKGATE__CONTEXT__SECRETS__SMTP_PASSWORD": "pa55word",
    }
    code = "from lockgate.client import Secret; print(Secret('SMTP_PASSWORD').get())"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "pa55word"


def test_turning_local_secrets_off_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(lockgate.config.cloud, "use_local_secrets", False)
    with lockgate.context(secrets={"X": "1"}), pytest.raises(CloudUnavailableError) as info:
        Secret("X").get()
    message = str(info.value)
    assert "Secret('X').get()" in message
    assert "lockgate has no Prefect Cloud" in message
    assert "cloud.use_local_secrets = true" in message
    assert isinstance(info.value, AuthorizationError)  # what ported code catches


def test_client_placeholder_raises_and_says_why():
    with pytest.raises(CloudUnavailableError, match="lockgate has no Prefect Cloud"):
        Client()
    with pytest.raises(ClientError):
        Client(api_token="anything")


def test_secret_repr_does_not_show_the_value():
    with lockgate.context(secrets={"TOKEN": "hidden"}):
        assert "hidden" not in repr(Secret("TOKEN"))
    assert json.loads(json.dumps({"x": repr(Secret("TOKEN"))}))

"""Secrets never reach the screen: store URLs and secret-looking parameters."""

from __future__ import annotations

import pytest

from lockgate.utilities.masking import MASK, is_secret_name, mask_parameters, mask_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://ann:hunter2@db:5432/runs",
            "postgresql+psycopg://ann:***@db:5432/runs",
        ),
        (
            "postgresql://ann@db/runs?sslmode=require&password=hunter2",
            "postgresql://ann@db/runs?sslmode=require&password=***",
        ),
        ("postgresql://ann@db/runs?PASSWORD=a%26b", "postgresql://ann@db/runs?PASSWORD=***"),
        ("sqlite:////home/ann/.lockgate/store.db", "sqlite:////home/ann/.lockgate/store.db"),
        ("postgresql://ann@db/runs", "postgresql://ann@db/runs"),
        ("/tmp/store.db", "/tmp/store.db"),
    ],
)
def test_mask_url_hides_every_password_form(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert "hunter2" not in mask_url(url)


@pytest.mark.parametrize("name", ["password", "db_pass", "API_TOKEN", "client_secret", "aws_key"])
def test_secret_looking_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["n", "date", "path", "region"])
def test_plain_names_are_not_secret(name: str) -> None:
    assert not is_secret_name(name)


def test_mask_parameters_keeps_order_and_plain_values() -> None:
    params = {"n": 3, "db_password": "hunter2", "region": "eu"}
    assert mask_parameters(params) == {"n": 3, "db_password": MASK, "region": "eu"}
    assert list(mask_parameters(params)) == ["n", "db_password", "region"]
    assert mask_parameters(params, reveal=True) == params


def test_a_sqlite_url_keeps_its_absolute_path() -> None:
    assert mask_url("sqlite:////tmp/x.db?password=pw") == "sqlite:////tmp/x.db?password=***"

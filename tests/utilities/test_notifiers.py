"""Notifiers against real servers on 127.0.0.1: Slack-style webhooks and SMTP."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

import lockgate
from _local_servers import HTTPReceiver, SMTPReceiver
from lockgate import Flow, Task, task
from lockgate.engine.state import Failed, Finished, Running, Success, TriggerFailed
from lockgate.utilities.notifications import (
    callback_factory,
    email_message_formatter,
    gmail_notifier,
    send_email,
    slack_message_formatter,
    slack_notifier,
)


@task
def divide_by_zero() -> float:
    return 1 / 0


@task
def answer() -> int:
    return 42


def run_with(handler, body=answer):
    """Run a one-task flow whose task has ``handler``; return the task's final state."""
    with Flow("notified") as flow:
        result = body(task_args={"state_handlers": [handler], "name": "worker"})
    return flow.run().result[result]


# -- callback_factory ------------------------------------------------------------------------


def test_callback_factory_calls_fn_only_when_check_passes():
    seen = []
    handler = callback_factory(
        lambda obj, state: seen.append((obj.name, type(state).__name__)),
        lambda state: state.is_finished(),
    )
    state = run_with(handler)
    assert state.is_successful()
    assert seen == [("worker", "Success")]


def test_callback_factory_handler_keeps_the_state_and_pickles():
    handler = callback_factory(print, lambda state: False)
    new = Success("done")
    assert handler(Task(), Running(), new) is new
    import cloudpickle

    restored = cloudpickle.loads(cloudpickle.dumps(handler))
    assert restored(Task(), Running(), new) is new


# -- Slack --------------------------------------------------------------------------------------


def test_slack_message_names_the_task_state_and_exception():
    data = slack_message_formatter(Task(name="load"), Failed(result=ValueError("bad row")))
    (attachment,) = data["attachments"]
    assert attachment["title"] == "Failed"
    assert attachment["color"] == Failed().color
    assert attachment["text"] == "load is now in a Failed state"
    assert attachment["fields"][0]["value"] == "```ValueError('bad row')```"


def test_slack_notifier_posts_failures_to_the_webhook():
    with HTTPReceiver() as hook:
        handler = slack_notifier(only_states=[Failed], webhook_url=f"{hook.url}/hook/1")
        state = run_with(handler, body=divide_by_zero)
    assert state.is_failed()
    (request,) = hook.requests  # Running and Pending were not Failed: not posted
    assert request.path == "/hook/1"
    assert request.headers["Content-Type"] == "application/json"
    attachment = request.json()["attachments"][0]
    assert attachment["title"] == "Failed"
    assert "ZeroDivisionError" in attachment["fields"][0]["value"]


def test_slack_notifier_reads_the_webhook_from_a_secret():
    with HTTPReceiver() as hook:
        with lockgate.context(secrets={"SLACK_WEBHOOK_URL": f"{hook.url}/from-secret"}):
            run_with(slack_notifier(ignore_states=[Running]))
    assert [r.path for r in hook.requests] == ["/from-secret"]
    assert hook.requests[0].json()["attachments"][0]["title"] == "Success"


def test_slack_notifier_ignore_states_match_subclasses():
    with HTTPReceiver() as hook:
        run_with(slack_notifier(ignore_states=[Finished], webhook_url=hook.url))
    assert [r.json()["attachments"][0]["title"] for r in hook.requests] == ["Running"]


def test_slack_webhook_refusal_fails_the_task_with_the_answer():
    with HTTPReceiver(status=403) as hook:
        handler = slack_notifier(webhook_url=hook.url)
        with pytest.raises(ValueError, match="answered 403 'invalid_token'"):
            handler(Task(name="t"), Running(), Success())
        state = run_with(handler)
    assert state.is_failed()


def test_slack_notifier_without_webhook_says_how_to_give_one():
    with pytest.raises(ValueError, match="SLACK_WEBHOOK_URL"):
        slack_notifier(Task(), Running(), Success())


def test_slack_notifier_is_picklable_when_curried():
    handler = slack_notifier(only_states=[TriggerFailed], webhook_url="http://127.0.0.1:1")
    restored = pickle.loads(pickle.dumps(handler))
    state = Success()
    assert restored(Task(), Running(), state) is state  # not a TriggerFailed: no post


# -- email --------------------------------------------------------------------------------------


def test_gmail_notifier_sends_to_the_username_through_the_given_server():
    with SMTPReceiver(password="app-password") as smtp:
        handler = gmail_notifier(
            only_states=[Failed],
            smtp_server=smtp.host,
            smtp_port=smtp.port,
            smtp_type="INSECURE",
        )
        secrets = {"EMAIL_USERNAME": "ops@example.com", "EMAIL_PASSWORD": "app-password"}
        with lockgate.context(secrets=secrets):
            state = run_with(handler, body=divide_by_zero)
    assert state.is_failed()
    (mail,) = smtp.mails
    assert mail.login == ("ops@example.com", "app-password")
    assert mail.recipients == ["ops@example.com"]
    assert mail.message["Subject"] == "State change notification for worker"
    plain, html = mail.text_parts()
    assert "worker is now in a Failed state" in plain
    assert "ZeroDivisionError" in plain
    assert Failed().color in html


def test_gmail_notifier_reports_a_refused_login():
    with SMTPReceiver(password="right") as smtp:
        secrets = {"EMAIL_USERNAME": "ops@example.com", "EMAIL_PASSWORD": "wrong"}
        with lockgate.context(secrets=secrets), pytest.raises(ValueError) as info:
            gmail_notifier(
                Task(name="t"),
                Running(),
                Success(),
                smtp_server=smtp.host,
                smtp_port=smtp.port,
                smtp_type="INSECURE",
            )
    assert "Email notification for <Task: t> failed" in str(info.value)
    assert "535" in str(info.value)
    assert smtp.mails == []


def test_send_email_splits_comma_separated_recipients_and_skips_login_without_password():
    body = email_message_formatter(Task(name="t"), Success("fine"), "a@example.com")
    with SMTPReceiver() as smtp:
        send_email(
            body,
            "a@example.com, b@example.com",
            email_from="lockgate@example.com",
            smtp_server=smtp.host,
            smtp_port=smtp.port,
            smtp_type="insecure",
        )
    (mail,) = smtp.mails
    assert mail.login is None
    assert mail.sender == "lockgate@example.com"
    assert mail.recipients == ["a@example.com", "b@example.com"]


def test_unknown_smtp_type_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown smtp_type 'TLS'; use one of SSL, STARTTLS"):
        send_email("x", "a@example.com", smtp_server="127.0.0.1", smtp_type="TLS")


def test_importing_notifications_does_not_import_requests():
    code = (
        "import sys, lockgate.utilities.notifications, lockgate.tasks.notifications;"
        "print('requests' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_smtp_server_and_sender_from_the_notifications_settings():
    from lockgate.utilities.configuration import set_temporary_config

    with SMTPReceiver() as smtp:
        settings = {
            "notifications.smtp_server": smtp.host,
            "notifications.smtp_port": smtp.port,
            "notifications.smtp_type": "INSECURE",
            "notifications.email_from": "pipelines@example.com",
        }
        with set_temporary_config(settings):
            with lockgate.context(secrets={"EMAIL_USERNAME": "oncall@example.com"}):
                run_with(gmail_notifier(only_states=[Success]))
    (mail,) = smtp.mails
    assert mail.sender == "pipelines@example.com"
    assert mail.message["From"] == "pipelines@example.com"
    assert mail.recipients == ["oncall@example.com"]

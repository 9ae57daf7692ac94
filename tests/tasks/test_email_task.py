"""EmailTask against a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import os
import ssl

import pytest

import lockgate
from _local_servers import SelfSignedCertificate, SMTPReceiver
from lockgate import Flow, task
from lockgate.tasks.notifications import EmailTask

LOGIN = {"EMAIL_USERNAME": "reports@example.com", "EMAIL_PASSWORD": "s3cret"}


def local_email_task(smtp: SMTPReceiver, **kwargs) -> EmailTask:
    return EmailTask(smtp_server=smtp.host, smtp_port=smtp.port, smtp_type="INSECURE", **kwargs)


def test_email_task_sends_upstream_text_with_the_secret_login():
    @task
    def summary() -> str:
        return "3 files loaded, 0 rejected"

    with SMTPReceiver(password="s3cret") as smtp:
        email = local_email_task(smtp, subject="Nightly load", email_to="team@example.com")
        with Flow("nightly") as flow:
            sent = email(msg=summary())
        with lockgate.context(secrets=LOGIN):
            state = flow.run()

    assert state.is_successful()
    assert state.result[sent].result is None
    (mail,) = smtp.mails
    assert mail.login == ("reports@example.com", "s3cret")
    assert mail.recipients == ["team@example.com"]
    assert mail.message["Subject"] == "Nightly load"
    assert mail.message["To"] == "team@example.com"
    assert mail.text_parts() == ["3 files loaded, 0 rejected\n"]


def test_email_task_call_arguments_win_over_init_ones():
    with SMTPReceiver() as smtp:
        email = local_email_task(smtp, subject="default", msg="default", email_to="a@example.com")
        email.run(subject="Überblick", email_to="b@example.com, c@example.com")
    (mail,) = smtp.mails
    assert mail.login is None  # no EMAIL_PASSWORD secret: no login (a local relay)
    assert mail.message["Subject"] == "Überblick"
    assert mail.recipients == ["b@example.com", "c@example.com"]
    assert mail.text_parts() == ["default\n"]


def test_email_task_sender_can_be_chosen():
    with SMTPReceiver() as smtp:
        local_email_task(smtp, email_from="robot@example.com").run(
            msg="hi", email_to="a@example.com"
        )
    (mail,) = smtp.mails
    assert mail.sender == "robot@example.com"
    assert mail.message["From"] == "robot@example.com"


def test_refused_login_fails_the_task_with_the_server_answer():
    with SMTPReceiver(password="right") as smtp:
        email = local_email_task(smtp, msg="x", email_to="a@example.com")
        flow = Flow("mail", tasks=[email])
        with lockgate.context(secrets={"EMAIL_USERNAME": "me", "EMAIL_PASSWORD": "wrong"}):
            state = flow.run()
    task_state = state.result[email]
    assert task_state.is_failed()
    assert "Authentication credentials invalid" in str(task_state.result)
    assert smtp.mails == []


def test_unreachable_server_fails_the_task():
    with SMTPReceiver() as smtp:
        port = smtp.port
    email = EmailTask(msg="x", email_to="a@example.com", smtp_server="127.0.0.1", smtp_port=port)
    with pytest.raises(OSError):
        email.run()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return SelfSignedCertificate.create(str(tmp_path_factory.mktemp("tls")))


@pytest.mark.parametrize("smtp_type", ["SSL", "STARTTLS"])
def test_tls_connections_check_the_servers_certificate(monkeypatch, certificate, smtp_type):
    with SMTPReceiver(password="s3cret", tls=smtp_type, certificate=certificate) as smtp:
        email = EmailTask(
            msg="over TLS",
            email_to="a@example.com",
            smtp_server=smtp.host,
            smtp_port=smtp.port,
            smtp_type=smtp_type,
        )
        with lockgate.context(secrets=LOGIN):
            # a certificate nobody vouches for is refused before the password is sent
            monkeypatch.setenv("SSL_CERT_FILE", os.devnull)
            monkeypatch.setenv("SSL_CERT_DIR", os.devnull)
            with pytest.raises(ssl.SSLCertVerificationError):
                email.run()
            # trusted (as a company CA would be), the mail goes through
            monkeypatch.setenv("SSL_CERT_FILE", certificate.cert_file)
            email.run()
    (mail,) = smtp.mails
    assert mail.login == ("reports@example.com", "s3cret")
    assert mail.text_parts() == ["over TLS\n"]

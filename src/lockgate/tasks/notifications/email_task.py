"""A task that sends an email."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any

from lockgate.client.secrets import Secret
from lockgate.core.task import Task
from lockgate.utilities.notifications import default_email_from, send_email
from lockgate.utilities.tasks import defaults_from_attrs

__all__ = ["EmailTask"]


class EmailTask(Task):
    """A task that sends a plain-text email.

    The SMTP login comes from the ``EMAIL_USERNAME`` and ``EMAIL_PASSWORD`` secrets (see
    :class:`~lockgate.client.Secret`); with no ``EMAIL_PASSWORD`` the task does not log in,
    which suits a local relay. As in Prefect 0.5.1 the server is Gmail's
    (``smtp.gmail.com:465`` over SSL) unless the arguments below or the ``[notifications]``
    section of the configuration say otherwise.

    Args:
        subject: the subject; can also be given when the task is called, which wins.
        msg: the text of the email; can also be given when the task is called.
        email_to: the recipient (several separated by commas); can also be given when the
            task is called.
        email_from: the sender (default: ``notifications.email_from``).
        smtp_server: SMTP host (default: ``notifications.smtp_server``, else Gmail's).
        smtp_port: SMTP port (default: ``notifications.smtp_port``, else 465 for SSL,
            587 for STARTTLS, 25 for INSECURE).
        smtp_type: ``"SSL"``, ``"STARTTLS"`` or ``"INSECURE"`` (default:
            ``notifications.smtp_type``, else ``"SSL"``).
        **kwargs: any other :class:`~lockgate.core.task.Task` argument.
    """

    def __init__(
        self,
        subject: str | None = None,
        msg: str | None = None,
        email_to: str | None = None,
        email_from: str | None = None,
        smtp_server: str | None = None,
        smtp_port: int | None = None,
        smtp_type: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.subject = subject
        self.msg = msg
        self.email_to = email_to
        self.email_from = email_from
        self.smtp_server = smtp_server
        self.smtp_port = smtp_port
        self.smtp_type = smtp_type
        super().__init__(**kwargs)

    @defaults_from_attrs("subject", "msg", "email_to")
    def run(
        self, subject: str | None = None, msg: str | None = None, email_to: str | None = None
    ) -> None:
        """Send the email.

        Args:
            subject: the subject (default: the one given at initialization).
            msg: the text (default: the one given at initialization).
            email_to: the recipient (default: the one given at initialization).

        Raises:
            ValueError: for an unknown ``smtp_type``.
            OSError: when the SMTP server cannot be reached or refuses the login or the
                message (``smtplib.SMTPException`` is an ``OSError``).
        """
        username = Secret("EMAIL_USERNAME").get()
        password = Secret("EMAIL_PASSWORD").get()
        recipient = email_to or ""

        contents = EmailMessage()
        contents["Subject"] = subject or ""
        sender = self.email_from
        if sender is None:
            sender = default_email_from()
        contents["From"] = sender
        contents["To"] = recipient
        contents.set_content(msg or "")

        send_email(
            contents.as_string(),
            recipient,
            username,
            password,
            sender,
            self.smtp_server,
            self.smtp_port,
            self.smtp_type,
            smtp_module=smtplib,
        )

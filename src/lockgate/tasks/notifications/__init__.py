"""Notification tasks: send an email from a flow."""

from lockgate.tasks.notifications.email_task import EmailTask

__all__ = ["EmailTask"]

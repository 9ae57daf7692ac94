"""State handlers that tell someone about a task's or flow's state changes.

- :func:`callback_factory` builds a state handler from "what to do" and "when to do it".
- :func:`slack_notifier` posts to a Slack incoming webhook (needs ``requests``, installed
  with ``pip install lockgate[library]``).
- :func:`gmail_notifier` sends an email. As in Prefect 0.5.1 it goes to Gmail's SMTP server
  by default, with the ``EMAIL_USERNAME`` / ``EMAIL_PASSWORD`` secrets; the server, port and
  kind of connection can be changed in the ``[notifications]`` section of the configuration
  or per handler (see :func:`send_email`).

Both notifiers are curried: call them with only keyword options to get a handler::

    from lockgate import task
    from lockgate.engine.state import Running
    from lockgate.utilities.notifications import slack_notifier

    @task(state_handlers=[slack_notifier(ignore_states=[Running])])
    def add(x, y):
        return x + y
"""

from __future__ import annotations

import functools
import html
import smtplib
import ssl
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from types import ModuleType
from typing import TYPE_CHECKING, Any

from lockgate.client._config import config_value
from lockgate.client.secrets import Secret

if TYPE_CHECKING:
    from lockgate.engine.state import State

__all__ = [
    "callback_factory",
    "default_email_from",
    "email_message_formatter",
    "gmail_notifier",
    "slack_message_formatter",
    "send_email",
    "slack_notifier",
]

DEFAULT_SMTP_SERVER = "smtp.gmail.com"
"""Where emails go when neither the handler nor the configuration names a server."""
DEFAULT_SMTP_PORT = 465
"""The port used with :data:`DEFAULT_SMTP_SERVER` (SMTP over SSL)."""
DEFAULT_EMAIL_FROM = "notifications@prefect.io"
"""The sender address 0.5.1 used; set ``notifications.email_from`` to use your own."""
SMTP_TYPES = ("SSL", "STARTTLS", "INSECURE")
"""Kinds of SMTP connection: SSL from the start, STARTTLS upgrade, or plain (local relays)."""

# How long a webhook or SMTP server may take to answer, in seconds: a notifier runs inside
# a state handler, and a hung server must not hang the run.
_NETWORK_TIMEOUT = 30.0


def callback_factory(
    fn: Callable[[Any, State], Any], check: Callable[[State], bool]
) -> Callable[[Any, State, State], State]:
    """Build a state handler that calls ``fn`` whenever ``check`` passes.

    Args:
        fn: ``fn(task_or_flow, new_state)``, called for its side effect (send a message,
            write a file, ...). Its return value is ignored.
        check: ``check(new_state) -> bool``; ``fn`` runs only when it returns ``True``.

    Returns:
        A state handler for ``Task(state_handlers=[...])`` or ``Flow(state_handlers=[...])``;
        it returns the new state unchanged.
    """

    def state_handler(obj: Any, old_state: State, new_state: State) -> State:
        if check(new_state) is True:
            fn(obj, new_state)
        return new_state

    return state_handler


def _state_message(state: State) -> str | None:
    if isinstance(state.result, BaseException):
        return repr(state.result)
    return None if state.message is None else str(state.message)


def email_message_formatter(tracked_obj: Any, state: State, email_to: str) -> str:
    """Build the email sent by :func:`gmail_notifier`: a plain-text and an HTML part.

    Args:
        tracked_obj: the task or flow whose state changed.
        state: its new state.
        email_to: the recipient, for the ``To`` header.

    Returns:
        The whole message (headers and body) as a string, ready for ``sendmail``.
    """
    state_name = type(state).__name__
    message = _state_message(state)
    text = f"{tracked_obj.name} is now in a {state_name} state.\n\nMessage: {message}\n"
    body = (
        f'<p style="border-left: 4px solid {state.color}; padding-left: 8px;">'
        f"<code>{html.escape(str(tracked_obj.name))}</code> is now in a "
        f'<b style="color: {state.color};">{state_name}</b> state.<br><br>'
        f"Message: <pre>{html.escape(str(message))}</pre></p>"
    )
    contents = EmailMessage()
    contents["Subject"] = f"State change notification for {tracked_obj.name}"
    contents["From"] = default_email_from()
    contents["To"] = str(email_to)
    contents.set_content(text)
    contents.add_alternative(f"<html><body>{body}</body></html>", subtype="html")
    return contents.as_string()


def slack_message_formatter(tracked_obj: Any, state: State) -> dict[str, Any]:
    """Build the JSON body :func:`slack_notifier` posts (a Slack message attachment).

    Args:
        tracked_obj: the task or flow whose state changed.
        state: its new state.

    Returns:
        A JSON-serializable dict: one attachment coloured like the state, titled with the
        state's class, with the state's message (or its exception) as a field.
    """
    fields = []
    result = state.result
    if isinstance(result, BaseException):
        fields.append({"title": "Message", "value": f"```{result!r}```", "short": False})
    elif state.message is not None:
        fields.append({"title": "Message", "value": str(state.message), "short": False})
    state_name = type(state).__name__
    return {
        "attachments": [
            {
                "fallback": "State change notification",
                "color": state.color,
                "author_name": "lockgate",
                "title": state_name,
                "fields": fields,
                "text": f"{tracked_obj.name} is now in a {state_name} state",
                "footer": "lockgate notification",
            }
        ]
    }


def _should_notify(
    state: State, ignore_states: Sequence[type] | None, only_states: Sequence[type] | None
) -> bool:
    if any(isinstance(state, ignored) for ignored in ignore_states or ()):
        return False
    return not only_states or any(isinstance(state, wanted) for wanted in only_states)


def default_email_from() -> str:
    """The sender address notifications use: ``notifications.email_from``, else 0.5.1's.

    Returns:
        The address.
    """
    return str(config_value("notifications.email_from", None) or DEFAULT_EMAIL_FROM)


def _open_smtp(
    smtp: ModuleType, smtp_server: str | None, smtp_port: int | None, smtp_type: str | None
) -> smtplib.SMTP:
    # ``smtp`` is the caller's ``smtplib`` module: each module that sends mail keeps its own
    # ``smtplib`` name, so a test (or an application) can swap it in one place.
    # A setting that is false or empty means "not set", as elsewhere in config.toml.
    server = smtp_server or config_value("notifications.smtp_server", None) or DEFAULT_SMTP_SERVER
    kind = str(smtp_type or config_value("notifications.smtp_type", None) or "SSL").upper()
    if kind not in SMTP_TYPES:
        raise ValueError(
            f"Unknown smtp_type {smtp_type!r}; use one of {', '.join(SMTP_TYPES)} "
            "(argument smtp_type= or setting notifications.smtp_type)."
        )
    default_port = {"SSL": DEFAULT_SMTP_PORT, "STARTTLS": 587, "INSECURE": 25}[kind]
    port = int(smtp_port or config_value("notifications.smtp_port", None) or default_port)
    # smtplib's own default context does not check the server's certificate; this one
    # does (against the system's CAs, or SSL_CERT_FILE / SSL_CERT_DIR when set).
    tls = ssl.create_default_context()
    if kind == "SSL":
        connection: smtplib.SMTP = smtp.SMTP_SSL(
            server, port, timeout=_NETWORK_TIMEOUT, context=tls
        )
        return connection
    connection = smtp.SMTP(server, port, timeout=_NETWORK_TIMEOUT)
    if kind == "STARTTLS":
        connection.starttls(context=tls)
    return connection


def send_email(
    message: str,
    email_to: str | Sequence[str],
    username: Any = None,
    password: Any = None,
    email_from: str | None = None,
    smtp_server: str | None = None,
    smtp_port: int | None = None,
    smtp_type: str | None = None,
    *,
    smtp_module: ModuleType | None = None,
) -> None:
    """Send an email through the notification SMTP server.

    Each server setting left out is read from the ``[notifications]`` section of the
    configuration (``smtp_server``, ``smtp_port``, ``smtp_type``, ``email_from``) and
    falls back to 0.5.1's Gmail setup: ``smtp.gmail.com``, port 465, ``"SSL"``. Without a
    configured port, the port follows the type: 465 for SSL, 587 for STARTTLS, 25 for
    INSECURE.

    Args:
        message: the whole message, headers included.
        email_to: one address, several separated by commas, or a list of addresses.
        username: the SMTP login name.
        password: the SMTP password; ``None`` skips logging in (e.g. a local relay).
        email_from: the envelope sender (default: ``notifications.email_from``).
        smtp_server: host name or address of the SMTP server.
        smtp_port: its port.
        smtp_type: ``"SSL"`` (TLS from the start), ``"STARTTLS"`` (plain, then upgraded to
            TLS) or ``"INSECURE"`` (plain SMTP, e.g. a relay on localhost).
        smtp_module: the ``smtplib`` module to use (default: this module's ``smtplib``).

    Raises:
        ValueError: for an unknown ``smtp_type``.
        OSError: when the server cannot be reached or refuses the login or the message
            (``smtplib.SMTPException`` is an ``OSError``).
    """
    if isinstance(email_to, str) and "," in email_to:
        email_to = [address.strip() for address in email_to.split(",") if address.strip()]
    sender = email_from or default_email_from()
    connection = _open_smtp(smtp_module or smtplib, smtp_server, smtp_port, smtp_type)
    try:
        if password is not None:
            connection.login(str(username), str(password))
        connection.sendmail(sender, email_to, message)
    finally:
        connection.quit()


def _curried(handler: Callable[..., State]) -> Callable[..., Any]:
    """Let ``handler`` be called with its options only, returning a ready state handler.

    ``handler(obj, old_state, new_state, **options)`` called with fewer than its three
    positional arguments returns a :func:`functools.partial` that waits for the rest (a
    partial of a module-level function pickles, so the handler can travel to workers).
    """

    @functools.wraps(handler)
    def curried(*args: Any, **options: Any) -> Any:
        if len(args) < 3:
            return functools.partial(curried, *args, **options)
        return handler(*args, **options)

    return curried


@_curried
def gmail_notifier(
    tracked_obj: Any,
    old_state: State,
    new_state: State,
    ignore_states: Sequence[type] | None = None,
    only_states: Sequence[type] | None = None,
    *,
    email_to: str | None = None,
    smtp_server: str | None = None,
    smtp_port: int | None = None,
    smtp_type: str | None = None,
) -> State:
    """Email a state change; a state handler for tasks and flows.

    The login comes from the ``EMAIL_USERNAME`` and ``EMAIL_PASSWORD`` secrets (for Gmail,
    use an app password), and the email goes to ``EMAIL_USERNAME`` unless ``email_to`` is
    given. The server is Gmail's unless ``smtp_server`` / ``smtp_port`` / ``smtp_type`` or
    the ``[notifications]`` configuration say otherwise (see :func:`send_email`).

    Curried: ``gmail_notifier(only_states=[Failed])`` returns a state handler.

    Args:
        tracked_obj: the task or flow the handler is attached to.
        old_state: its previous state (unused).
        new_state: its new state.
        ignore_states: state classes never to notify about, e.g. ``[Running]``.
        only_states: when given, notify only about states of these classes.
        email_to: the recipient (default: the ``EMAIL_USERNAME`` secret).
        smtp_server: SMTP host (default: ``notifications.smtp_server``, else Gmail).
        smtp_port: SMTP port (default: ``notifications.smtp_port``, else by type).
        smtp_type: ``"SSL"``, ``"STARTTLS"`` or ``"INSECURE"`` (default:
            ``notifications.smtp_type``, else ``"SSL"``).

    Returns:
        ``new_state``, unchanged.

    Raises:
        ValueError: when the email cannot be sent; the message says why.
    """
    if not _should_notify(new_state, ignore_states, only_states):
        return new_state
    username = Secret("EMAIL_USERNAME").get()
    password = Secret("EMAIL_PASSWORD").get()
    recipient = email_to or username
    body = email_message_formatter(tracked_obj, new_state, recipient)
    try:
        send_email(body, recipient, username, password, None, smtp_server, smtp_port, smtp_type)
    except Exception as exc:
        raise ValueError(
            f"Email notification for {tracked_obj} failed: {exc!r}. Check the "
            "EMAIL_USERNAME and EMAIL_PASSWORD secrets and the [notifications] SMTP settings."
        ) from exc
    return new_state


@_curried
def slack_notifier(
    tracked_obj: Any,
    old_state: State,
    new_state: State,
    ignore_states: Sequence[type] | None = None,
    only_states: Sequence[type] | None = None,
    webhook_url: str | None = None,
) -> State:
    """Post a state change to a Slack incoming webhook; a state handler for tasks and flows.

    Needs ``requests`` (``pip install lockgate[library]``). Curried:
    ``slack_notifier(ignore_states=[Running])`` returns a state handler.

    Args:
        tracked_obj: the task or flow the handler is attached to.
        old_state: its previous state (unused).
        new_state: its new state.
        ignore_states: state classes never to notify about, e.g. ``[Running]``.
        only_states: when given, notify only about states of these classes.
        webhook_url: the webhook to post to (default: the ``SLACK_WEBHOOK_URL`` secret).

    Returns:
        ``new_state``, unchanged.

    Raises:
        ValueError: when the post fails or the server does not answer with success.
    """
    if not _should_notify(new_state, ignore_states, only_states):
        return new_state
    url = webhook_url or Secret("SLACK_WEBHOOK_URL").get()
    payload = slack_message_formatter(tracked_obj, new_state)
    try:
        response = _requests().post(url, json=payload, timeout=_NETWORK_TIMEOUT)
    except Exception as exc:
        raise ValueError(
            f"Slack notification for {tracked_obj} failed: {exc!r}. Pass webhook_url= or "
            "set the SLACK_WEBHOOK_URL secret."
        ) from exc
    if not response.ok:
        raise ValueError(
            f"Slack notification for {tracked_obj} failed: the webhook answered "
            f"{getattr(response, 'status_code', '?')} {getattr(response, 'text', '')!r}."
        )
    return new_state


def _requests() -> Any:
    # requests is optional (lockgate[library]) and slow to import, so it is imported on the
    # first Slack post; the module attribute ``requests`` then refers to it.
    module: Any = globals().get("requests")
    if module is None:
        try:
            import requests as module
        except ImportError as exc:
            raise ImportError(
                "slack_notifier needs the requests package; install it with "
                "`pip install lockgate[library]`."
            ) from exc
        globals()["requests"] = module
    return module


def __getattr__(name: str) -> Any:
    if name == "requests":
        return _requests()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

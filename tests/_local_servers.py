"""Real servers on 127.0.0.1 for the notifier and email tests: a small SMTP receiver and an
HTTP receiver for webhooks. Each records what it was sent; neither touches the network.

Both are context managers that bind a free port, serve from a daemon thread, and shut down
on exit::

    with SMTPReceiver() as smtp:
        send_email(..., smtp_server=smtp.host, smtp_port=smtp.port, smtp_type="INSECURE")
    smtp.mails[0].recipients
"""

from __future__ import annotations

import base64
import datetime
import email
import email.message
import email.policy
import ipaddress
import json
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"
# How often a server's loop checks whether it was told to stop (seconds): small, so that
# leaving the ``with`` block does not wait.
_POLL = 0.02


@dataclass
class SelfSignedCertificate:
    """A certificate for 127.0.0.1, signed by itself: a client trusts it only when told to
    (e.g. with ``SSL_CERT_FILE`` pointing at ``cert_file``)."""

    cert_file: str
    key_file: str

    @classmethod
    def create(cls, folder: str) -> SelfSignedCertificate:
        """Write a new key and certificate for 127.0.0.1 into ``folder``."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
        now = datetime.datetime.now(datetime.timezone.utc)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        cert_file = f"{folder}/cert.pem"
        key_file = f"{folder}/key.pem"
        with open(cert_file, "wb") as file:
            file.write(certificate.public_bytes(serialization.Encoding.PEM))
        with open(key_file, "wb") as file:
            file.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        return cls(cert_file, key_file)


@dataclass
class ReceivedMail:
    """One message the SMTP receiver accepted."""

    sender: str
    recipients: list[str]
    data: str
    login: tuple[str, str] | None

    @property
    def message(self) -> email.message.Message:
        """The message parsed into headers and parts."""
        return email.message_from_string(self.data, policy=email.policy.default)

    def text_parts(self) -> list[str]:
        """The decoded text of every ``text/*`` part."""
        parts = []
        for part in self.message.walk():
            if part.get_content_maintype() == "text":
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                parts.append(payload.decode(part.get_content_charset() or "utf-8"))
        return parts


@dataclass
class _SMTPState:
    password: str | None
    tls: str | None = None
    tls_context: ssl.SSLContext | None = None
    mails: list[ReceivedMail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _SMTPHandler(socketserver.StreamRequestHandler):
    server: _SMTPServer

    def setup(self) -> None:
        state = self.server.state
        if state.tls == "SSL":  # TLS from the first byte
            assert state.tls_context is not None
            self.request = self.connection = state.tls_context.wrap_socket(
                self.request, server_side=True
            )
        super().setup()

    def start_tls(self) -> None:
        context = self.server.state.tls_context
        assert context is not None
        self.connection = context.wrap_socket(self.connection, server_side=True)
        self.rfile = self.connection.makefile("rb")
        self.wfile = self.connection.makefile("wb")

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def read_line(self) -> str | None:
        raw = self.rfile.readline()
        return raw.decode().rstrip("\r\n") if raw else None

    def handle(self) -> None:  # one SMTP session
        state = self.server.state
        login: tuple[str, str] | None = None
        sender = ""
        recipients: list[str] = []
        self.reply("220 localhost lockgate test SMTP receiver")
        while (line := self.read_line()) is not None:
            verb, _, argument = line.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                self.reply("250-localhost")
                if state.tls == "STARTTLS" and not isinstance(self.connection, ssl.SSLSocket):
                    self.reply("250-STARTTLS")
                self.reply("250 AUTH PLAIN")
            elif verb == "STARTTLS":
                self.reply("220 2.0.0 Ready to start TLS")
                self.start_tls()
            elif verb == "HELO":
                self.reply("250 localhost")
            elif verb == "AUTH":
                mechanism, _, initial = argument.partition(" ")
                if mechanism.upper() != "PLAIN":
                    self.reply("504 5.5.4 only AUTH PLAIN")
                    continue
                if not initial:
                    self.reply("334 ")
                    initial = self.read_line() or ""
                _, user, password = base64.b64decode(initial).decode().split("\0")
                if state.password is not None and password != state.password:
                    self.reply("535 5.7.8 Authentication credentials invalid")
                    continue
                login = (user, password)
                self.reply("235 2.7.0 Authentication successful")
            elif verb == "MAIL":
                if state.password is not None and login is None:
                    self.reply("530 5.7.0 Authentication required")
                    continue
                sender = argument.split(":", 1)[1].strip().strip("<>").split(" ")[0]
                recipients = []
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(argument.split(":", 1)[1].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while (data_line := self.read_line()) is not None and data_line != ".":
                    lines.append(data_line[1:] if data_line.startswith("..") else data_line)
                with state.lock:
                    mail = ReceivedMail(
                        sender, recipients, "".join(f"{line}\n" for line in lines), login
                    )
                    state.mails.append(mail)
                self.reply("250 OK: queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 5.5.2 Command not recognized")


class _SMTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: _SMTPState) -> None:
        self.state = state
        super().__init__((HOST, 0), _SMTPHandler)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that refuses our certificate or hangs up mid-session is part of some
        # tests; the client side reports what matters.
        pass


class _Running:
    """Serve ``server`` from a daemon thread while inside ``with``."""

    def __init__(self, server: socketserver.BaseServer) -> None:
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": _POLL}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class SMTPReceiver:
    """An SMTP server on 127.0.0.1 that accepts mail and records it.

    It always offers AUTH PLAIN and records the login it got with each message.

    Args:
        password: when set, the server refuses MAIL before a login and refuses a login
            with another password.
        tls: ``None`` (plain SMTP), ``"SSL"`` (TLS from the first byte) or ``"STARTTLS"``
            (offers the upgrade); TLS uses ``certificate``.
        certificate: a :class:`SelfSignedCertificate` for TLS.
    """

    def __init__(
        self,
        password: str | None = None,
        tls: str | None = None,
        certificate: SelfSignedCertificate | None = None,
    ) -> None:
        context = None
        if tls is not None:
            assert certificate is not None, "TLS needs a certificate"
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certificate.cert_file, certificate.key_file)
        self._state = _SMTPState(password, tls, context)
        self._server = _SMTPServer(self._state)
        self.host: str = HOST
        self.port: int = self._server.server_address[1]
        self._running = _Running(self._server)

    @property
    def mails(self) -> list[ReceivedMail]:
        """The messages accepted so far, in order."""
        with self._state.lock:
            return list(self._state.mails)

    def __enter__(self) -> SMTPReceiver:
        self._running.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._running.stop()


@dataclass
class ReceivedRequest:
    """One POST the HTTP receiver answered."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


class HTTPReceiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers with ``status``.

    Args:
        status: the status code every POST gets.
    """

    def __init__(self, status: int = 200) -> None:
        self.requests: list[ReceivedRequest] = []
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with lock:
                    receiver.requests.append(
                        ReceivedRequest(self.path, dict(self.headers.items()), body)
                    )
                answer = b"ok" if status < 400 else b"invalid_token"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.url = f"http://{HOST}:{self.port}"
        self._running = _Running(self._server)

    def __enter__(self) -> HTTPReceiver:
        self._running.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._running.stop()

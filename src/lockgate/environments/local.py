"""LocalEnvironment: a flow kept encrypted, to be run later in the current process."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import cloudpickle

from lockgate.environments.environment import Environment

if TYPE_CHECKING:
    from lockgate.core.flow import Flow
    from lockgate.engine.state import State

__all__ = ["LocalEnvironment"]


def _fernet_class() -> Any:
    try:
        from cryptography.fernet import Fernet
    except ImportError as exc:
        raise ImportError(
            "LocalEnvironment encrypts flows with the cryptography package; install it with "
            "`pip install lockgate[library]`."
        ) from exc
    return Fernet


def _fernet(key: bytes | str) -> Any:
    return _fernet_class()(key)


class LocalEnvironment(Environment):
    """A flow pickled, encrypted with a Fernet key, and run in the current process.

    ``LocalEnvironment().build(flow)`` returns an environment holding the encrypted flow;
    :meth:`~lockgate.environments.Environment.to_file` writes it (key included) to a JSON
    file, :func:`lockgate.utilities.environments.from_file` reads it back, and :meth:`run`
    decrypts and runs the flow. The file holds its own key, so encryption does not hide the
    flow from whoever can read the file; and loading it unpickles code, so load only files
    you trust. Needs ``cryptography`` (``pip install lockgate[library]``).

    Args:
        encryption_key: a Fernet key (32 url-safe base64-encoded bytes, as made by
            ``cryptography.fernet.Fernet.generate_key()``); a new one is made when omitted.
        serialized_flow: an encrypted flow, as returned by :meth:`serialize_flow_to_bytes`.

    Raises:
        ValueError: if ``encryption_key`` is not a valid Fernet key.
    """

    serialized_fields = ("encryption_key", "serialized_flow")

    def __init__(
        self, encryption_key: bytes | str | None = None, serialized_flow: bytes | str | None = None
    ) -> None:
        super().__init__()
        fernet_class = _fernet_class()
        if encryption_key is None:
            encryption_key = fernet_class.generate_key()
        else:
            try:
                fernet_class(encryption_key)
            except Exception as exc:
                raise ValueError(
                    f"Invalid encryption key {encryption_key!r}: a LocalEnvironment key is 32 "
                    "url-safe base64-encoded bytes; make one with "
                    "cryptography.fernet.Fernet.generate_key(), or omit it to get a new one."
                ) from exc
        self.encryption_key: bytes = (
            encryption_key.encode("ascii") if isinstance(encryption_key, str) else encryption_key
        )
        self.serialized_flow: bytes | None = (
            serialized_flow.encode("ascii") if isinstance(serialized_flow, str) else serialized_flow
        )

    def build(self, flow: Flow) -> LocalEnvironment:
        """Return a new LocalEnvironment, with the same key, holding ``flow`` encrypted.

        Args:
            flow: the flow to package.

        Returns:
            The new environment; this one is left unchanged.
        """
        return LocalEnvironment(
            encryption_key=self.encryption_key,
            serialized_flow=self.serialize_flow_to_bytes(flow),
        )

    def serialize_flow_to_bytes(self, flow: Flow) -> bytes:
        """Pickle ``flow`` with cloudpickle and encrypt it with this environment's key.

        Args:
            flow: the flow to serialize.

        Returns:
            The encrypted flow, base64-encoded.
        """
        token: bytes = _fernet(self.encryption_key).encrypt(cloudpickle.dumps(flow))
        return base64.b64encode(token)

    def deserialize_flow_from_bytes(self, serialized_flow: bytes) -> Flow:
        """Decrypt and unpickle a flow made by :meth:`serialize_flow_to_bytes`.

        Args:
            serialized_flow: the encrypted flow.

        Returns:
            The flow.

        Raises:
            cryptography.fernet.InvalidToken: if the flow was encrypted with another key
                or has been altered.
        """
        pickled: bytes = _fernet(self.encryption_key).decrypt(base64.b64decode(serialized_flow))
        flow: Flow = cloudpickle.loads(pickled)
        return flow

    def run(self, runner_kwargs: dict[str, Any] | None = None) -> State:
        """Decrypt the flow and run it with the default flow runner.

        The runner class is the one named by ``engine.flow_runner.default_class`` in the
        configuration.

        Args:
            runner_kwargs: keyword arguments for the runner's ``run()`` (``parameters``,
                ``executor``, ``context``, ...).

        Returns:
            The flow run's final state.

        Raises:
            ValueError: if the environment holds no flow (it was not built).
        """
        if not self.serialized_flow:
            raise ValueError(
                "No serialized flow found! Has this environment been built? Use "
                "LocalEnvironment().build(flow) to make one that holds a flow."
            )
        flow = self.deserialize_flow_from_bytes(self.serialized_flow)
        from lockgate.engine import get_default_flow_runner_class

        runner = get_default_flow_runner_class()(flow=flow)
        state: State = runner.run(**(runner_kwargs or {}))
        return state

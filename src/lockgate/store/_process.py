"""Who is recording a run: this process's id, host and start token, and liveness checks."""

from __future__ import annotations

import os
import socket

__all__ = ["host_name", "is_alive", "process_start"]


def host_name() -> str:
    """This machine's host name."""
    return socket.gethostname()


def process_start(pid: int) -> str | None:
    """A token for when process ``pid`` started (Linux: its start time in clock ticks).

    Together with the pid it tells a live process from a later one that reused the pid.
    None where ``/proc`` is not available.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after it.
    fields = data[data.rfind(b")") + 2 :].split()
    if len(fields) < 20:
        return None
    return fields[19].decode()


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return False
    fields = data[data.rfind(b")") + 2 :].split()
    return bool(fields) and fields[0] == b"Z"


def is_alive(pid: int, host: str | None, proc_start: str | None) -> bool:
    """Whether the process that recorded a run may still be running.

    A process on another host cannot be checked, so it counts as alive. On this host
    the pid must exist, not be a zombie, and (when known) have the same start token.

    Args:
        pid: the recorded process id.
        host: the recorded host name.
        proc_start: the recorded start token (see :func:`process_start`), or None.
    """
    if host is not None and host != host_name():
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return True
    if _is_zombie(pid):
        return False
    if proc_start is not None:
        now = process_start(pid)
        if now is not None and now != proc_start:
            return False
    return True

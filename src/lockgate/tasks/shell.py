"""Run shell commands as tasks.

A :class:`ShellTask` writes its command (after an optional helper script) to a temporary
script file and runs that file with a shell, so multi-line commands, loops and functions
defined in the helper all work. The task's result is everything the command printed,
standard output and standard error together, as ``bytes``::

    from lockgate import Flow
    from lockgate.tasks.shell import ShellTask

    shell = ShellTask(helper_script="cd /var/data")
    with Flow("disk usage") as flow:
        usage = shell(command="du -sh .")
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from typing import Any

from lockgate.core.task import Task
from lockgate.engine import signals
from lockgate.utilities.tasks import defaults_from_attrs

__all__ = ["ShellTask"]

# How much of a failed command's output goes into the Failed state's message: the end of
# the output is where the error usually is, and a state message should stay readable.
_FAILURE_OUTPUT_CHARS = 4000


class ShellTask(Task):
    """A task that runs a shell command and returns what it printed.

    Args:
        command: the command to run; can also be given when the task is called, which wins.
        env: environment variables to set for the command, on top of this process's own
            environment; can also be given when the task is called, which wins.
        helper_script: shell code run before the command in the same shell process, e.g.
            ``cd`` into a folder or define functions the commands call. Useful when one
            ShellTask is called several times in a flow with different commands.
        shell: the shell program that runs the script (default ``bash``).
        **kwargs: any other :class:`~lockgate.core.task.Task` argument (``name``,
            ``max_retries``, ``timeout``, ...).
    """

    def __init__(
        self,
        command: str | None = None,
        env: Mapping[str, str] | None = None,
        helper_script: str | None = None,
        shell: str = "bash",
        **kwargs: Any,
    ) -> None:
        self.command = command
        self.env = env
        self.helper_script = helper_script
        self.shell = shell
        super().__init__(**kwargs)

    @defaults_from_attrs("command", "env")
    def run(self, command: str | None = None, env: Mapping[str, str] | None = None) -> bytes:
        """Run the command and return its output.

        Args:
            command: the command to run (default: the one given at initialization).
                Functions and variables defined in ``helper_script`` are available to it.
            env: extra environment variables for the command (default: the ones given at
                initialization).

        Returns:
            Everything the command wrote to standard output and standard error, in the
            order it was written.

        Raises:
            TypeError: if no command was given, neither here nor at initialization.
            FAIL: if the command exits with a non-zero code, or the shell cannot be started;
                the message holds the exit code and the end of the command's output.
        """
        if command is None:
            raise TypeError(
                f"{self.name}: no command to run; give one with ShellTask(command=...) or "
                "when calling the task: shell_task(command=...)."
            )
        full_env = {**os.environ, **(env or {})}
        script = f"{self.helper_script}\n{command}" if self.helper_script else command
        with tempfile.NamedTemporaryFile("w", prefix="lockgate-shell-", suffix=".sh") as file:
            file.write(script)
            file.flush()
            try:
                completed = subprocess.run(
                    [self.shell, file.name],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    env=full_env,
                    check=False,
                )
            except OSError as exc:
                raise signals.FAIL(
                    f"Could not start the shell {self.shell!r}: {exc}. Install it, or choose "
                    "another with ShellTask(shell=...)."
                ) from None
        if completed.returncode != 0:
            output = completed.stdout.decode(errors="replace")
            if len(output) > _FAILURE_OUTPUT_CHARS:
                output = "..." + output[-_FAILURE_OUTPUT_CHARS:]
            raise signals.FAIL(
                f"Command failed with exit code {completed.returncode}: {output.strip()}"
            )
        return completed.stdout

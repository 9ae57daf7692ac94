"""ShellTask on a real shell."""

from __future__ import annotations

import pytest

from lockgate import Flow
from lockgate.tasks.shell import ShellTask
from lockgate.utilities.debug import raise_on_exception


def run_one(shell_task: ShellTask, **call_args):
    with Flow("shell") as flow:
        result = shell_task(**call_args)
    return flow.run().result[result]


def test_returns_stdout_and_stderr_in_order_as_bytes():
    state = run_one(ShellTask(), command="echo out; echo err >&2; printf done")
    assert state.is_successful()
    assert state.result == b"out\nerr\ndone"


def test_non_zero_exit_fails_with_the_exit_code_and_the_commands_stderr():
    state = run_one(ShellTask(), command="echo 'disk full: /data' >&2; exit 3")
    assert state.is_failed()
    assert state.message == "Command failed with exit code 3: disk full: /data"


def test_failure_message_keeps_the_end_of_a_long_output():
    state = run_one(ShellTask(), command="seq 1 5000; echo 'the real error' >&2; false")
    assert state.is_failed()
    assert state.message.startswith("Command failed with exit code 1: ...")
    assert state.message.endswith("5000\nthe real error")
    assert len(state.message) < 4200


def test_env_adds_to_the_inherited_environment(monkeypatch):
    monkeypatch.setenv("LOCKGATE_TEST_INHERITED", "from-parent")
    task = ShellTask(env={"LOCKGATE_TEST_INIT": "from-init"})
    state = run_one(task, command='printf "%s %s" "$LOCKGATE_TEST_INHERITED" "$LOCKGATE_TEST_INIT"')
    assert state.result == b"from-parent from-init"
    # env given at call time replaces the one given at init
    state = run_one(task, command='printf "[%s]" "$LOCKGATE_TEST_INIT"', env={"OTHER": "1"})
    assert state.result == b"[]"


def test_helper_script_defines_functions_for_each_call(tmp_path):
    (tmp_path / "a.txt").write_text("alpha")
    (tmp_path / "b.txt").write_text("beta")
    task = ShellTask(helper_script=f'cd "{tmp_path}"\nshow() {{ cat "$1.txt"; }}')
    with Flow("helpers") as flow:
        a = task(command="show a")
        b = task(command="show b")
    state = flow.run()
    assert state.result[a].result == b"alpha"
    assert state.result[b].result == b"beta"


def test_command_given_at_init_or_call_and_call_wins():
    task = ShellTask(command="printf init")
    assert run_one(task).result == b"init"
    assert run_one(task, command="printf call").result == b"call"


def test_multiline_command_with_a_loop():
    command = """
    total=0
    for n in 1 2 3 4; do
        total=$((total + n))
    done
    printf "$total"
    """
    assert run_one(ShellTask(), command=command).result == b"10"


def test_other_shell():
    state = run_one(ShellTask(shell="sh"), command="printf '%s' \"$0\" | tail -c 3")
    assert state.result == b".sh"  # the temporary script's name


def test_missing_shell_fails_with_a_clear_message():
    state = run_one(ShellTask(shell="no-such-shell-lockgate"), command="true")
    assert state.is_failed()
    assert "Could not start the shell 'no-such-shell-lockgate'" in state.message


def test_missing_command_is_a_type_error_naming_both_ways_to_give_one():
    with Flow("shell") as flow:
        ShellTask(name="backup")()
    with raise_on_exception(), pytest.raises(TypeError, match=r"backup: no command to run"):
        flow.run()


def test_stdin_is_closed_so_a_reading_command_does_not_hang():
    assert run_one(ShellTask(), command="cat; printf ok").result == b"ok"

"""`python3 -m evloop.aio [--trace] script.py [args...]`: a script, unchanged, on evloop.aio."""

import asyncio
import re
import subprocess
import sys
import textwrap
import warnings

import pytest

from evloop.cli import aio as cli
from tests.conftest import cli_env

pytestmark = pytest.mark.timeout(30)

REPORTS = """\
    import asyncio
    import sys

    async def main():
        kind = type(asyncio.get_running_loop())
        return f"{kind.__module__}.{kind.__qualname__}"

    print(__name__, sys.argv, asyncio.run(main()))
    sys.exit(int(sys.argv[1]))
"""

ECHO = """\
    import asyncio

    async def echo(reader, writer):
        while data := await reader.read(100):
            writer.write(data)
            await writer.drain()
        writer.close()
        await writer.wait_closed()
        served.set()

    async def main():
        # Before 3.12 server.wait_closed() does not wait for the handler, and
        # asyncio.run cancelling it prints 3.11's streams callback error.
        global served
        served = asyncio.Event()
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello")
        print((await reader.readexactly(5)).decode())
        writer.close()
        await writer.wait_closed()
        await served.wait()
        server.close()
        await server.wait_closed()

    asyncio.run(main(), debug=False)
"""


def script(tmp_path, source, name="program.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "evloop.aio", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=cli_env(), timeout=25)


def test_a_script_runs_as_main_with_its_arguments_and_its_exit_code(tmp_path):
    path = script(tmp_path, REPORTS)
    done = run(path, "0", "--trace", "-x", cwd=tmp_path)  # options after it are its own
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"__main__ {[str(path), '0', '--trace', '-x']} evloop.aio.loop.EventLoop\n"
    assert done.stderr == ""
    assert run(path, "5", cwd=tmp_path).returncode == 5


def test_the_scripts_directory_is_first_on_its_path(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "neighbour.py").write_text("WORD = 'found'\n")
    path = script(tmp_path / "sub", "import neighbour\nprint(neighbour.WORD)\n")
    done = run(path, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "found\n"), done.stderr


def test_system_exit_passes_through(tmp_path):
    path = script(tmp_path, "raise SystemExit(3)\n")
    done = run(path, cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (3, "", "")


def test_a_failing_script_exits_1_with_its_traceback(tmp_path):
    path = script(tmp_path, "raise ValueError('the script failed')\n")
    done = run(path, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("Traceback")
    assert done.stderr.rstrip().endswith("ValueError: the script failed")


def test_a_missing_script_is_one_line_and_exit_2(tmp_path):
    done = run(tmp_path / "nowhere.py", "an", "argument", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("evloop.aio: error: can't open file ")
    assert "nowhere.py" in lines[0] and "No such file" in lines[0]


def test_main_puts_back_the_policy_and_argv_it_found(tmp_path):
    path = script(tmp_path, """\
        import asyncio
        import pathlib
        import sys
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            policy = type(asyncio.get_event_loop_policy())
        pathlib.Path(sys.argv[1]).write_text(f"{policy.__module__}.{policy.__name__} {sys.argv}")
    """)
    report = tmp_path / "report.txt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        before = asyncio.get_event_loop_policy()
    argv = sys.argv
    assert cli.main([str(path), str(report)]) == 0
    assert report.read_text() == f"evloop.aio.EventLoopPolicy {[str(path), str(report)]}"
    assert sys.argv is argv
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert asyncio.get_event_loop_policy() is before


TRACE_LINE = re.compile(r"^trace: +\d+\.\d{3} ms  (.+?): (.*)$")


def test_trace_narrates_wake_ups_task_steps_reads_and_writes(tmp_path):
    path = script(tmp_path, ECHO)
    done = run("--trace", path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello\n"
    steps = []
    for line in done.stderr.splitlines():
        match = TRACE_LINE.match(line)
        assert match, f"not a trace line: {line!r}"
        steps.append(match.groups())
    said = [f"{lane}: {text}" for lane, text in steps]
    listener = next(lane for lane, text in steps if text == "listening")
    assert re.fullmatch(r"fd \d+ listener 127\.0\.0\.1:\d+", listener)
    # The server's side: woken by the listener, then by the client's bytes.
    assert any(re.fullmatch(rf"loop: woke after \d+\.\d{{3}} ms \(no timeout\): .*{listener} R.*", s)
               for s in said), said
    accepted = next(lane for lane, text in steps if text.startswith("accepted, a SocketTransport"))
    connected = next(lane for lane, text in steps if text.startswith("connected, a SocketTransport"))
    assert f"{connected}: send 5 B, all sent" in said
    assert f"{accepted}: recv 5 B" in said
    assert f"{accepted}: send 5 B, all sent" in said
    assert f"{connected}: recv 5 B" in said
    assert f"{accepted}: recv 0 B: the peer closed its side (EOF)" in said
    # Each step in its order: the client's write, the server's read and echo, the client's read.
    order = [said.index(f"{connected}: send 5 B, all sent"), said.index(f"{accepted}: recv 5 B"),
             said.index(f"{accepted}: send 5 B, all sent"), said.index(f"{connected}: recv 5 B")]
    assert order == sorted(order)
    assert "loop: runs task 'Task-1' main(): step" in said
    assert any(re.fullmatch(r"loop: runs task 'Task-\d+' echo\(\): (step|wake-up)", s)
               for s in said), said
    assert "loop: runs callback StreamReaderProtocol.connection_made" in said


def test_without_trace_nothing_is_narrated(tmp_path):
    done = run(script(tmp_path, ECHO), cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "hello\n", "")


def test_trace_goes_on_when_the_script_sets_debug_mode(tmp_path):
    """Debug mode adds its instrument (slow callbacks) beside the trace's: both run."""
    path = script(tmp_path, ECHO.replace("debug=False", "debug=True"))
    done = run("--trace", path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello\n"
    assert "loop: runs task 'Task-1' main(): step" in done.stderr
    assert re.search(r": recv 5 B\n", done.stderr)

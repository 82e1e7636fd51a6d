"""06-toy-cancel: cancel() for the toy's Task, and an echo that gives each client a second.

The student's `Task` (the toy's, with `cancel()`) and `serve(loop,
listener)` run over an evloop Loop in a thread: the grader starts
`Task(loop, serve(loop, listener))`.  Judged: a quick client is echoed; a
silent one is told `* too slow, bye` and closed when its second is up; a
client after it (most likely given the same descriptor number) is echoed;
and the loop holds no reader but the listener's and its waker's.
"""

import socket
import time

from docs.checks import _kit

TITLE = "Cancellation for the toy"
CHAPTER = "06-callbacks-to-coroutines.md"
LEVEL = 3
MINUTES = 60


def grade(student: _kit.Student) -> str:
    import evloop
    task = student.need("Task")
    serve = student.need("serve")
    _kit.check(callable(getattr(task, "cancel", None)), "the Task class has no cancel()")
    loop = evloop.Loop()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    task(loop, serve(loop, listener))
    stop = _kit.in_thread(loop)
    try:
        port = listener.getsockname()[1]
        with _kit.connect(port, timeout=5) as quick:
            quick.sendall(b"quick")
            _kit.check(_kit.recv_exactly(quick, 5) == b"quick", "the quick client was not echoed")
        with _kit.connect(port, timeout=5) as silent:
            started = time.monotonic()
            told = _kit.recv_until_eof(silent)  # nothing sent: wait for the deadline
            waited = time.monotonic() - started
        _kit.check(told == b"* too slow, bye\n", f"the silent client got {told!r}, not "
                                                 f"'* too slow, bye' and EOF")
        _kit.expect(waited < 3.0, f"the silent client was told after {waited:.2f} s, not 1 s")
        with _kit.connect(port, timeout=5) as after:
            after.sendall(b"after")
            _kit.check(_kit.recv_exactly(after, 5) == b"after",
                       "the client after the cancelled one was not echoed: is its reader gone?")
        readers = _kit.in_loop(loop, lambda: loop.statistics().readers)
        for _ in range(100):  # the "after" client's task may not have seen its EOF yet
            if readers <= 2:
                break
            time.sleep(0.02)
            readers = _kit.in_loop(loop, lambda: loop.statistics().readers)
        _kit.expect(readers == 2, f"{readers} readers left, not the listener's and the waker's")
    except socket.timeout:
        raise _kit.Failed("a client waited 5 s for its reply: was its socket ever watched?")
    finally:
        stop()
        listener.close()
    return f"echoed, cancelled after {waited:.2f} s with a goodbye, and served again after"

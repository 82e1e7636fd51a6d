"""Exercise 07-reload: a reload picks up new code.

Chapter 7 (docs/07-beyond-one-process.md, "Exercises").
Difficulty: ★★☆ medium.  Time: about 30 minutes.

The task: write `Versioned`, a handler that answers every message with
`VERSION PID` and a newline: the module's VERSION and the pid of the worker
serving it (`os.getpid()`).  Serve it from its own file with `--workers 2`,
keep a client connected, change the file (VERSION = "v2"), and send the
supervisor SIGHUP.  Watch who answers what.

The grader does just that with a copy of your file.  Done when, after the
reload, new clients are answered v2 by a new worker, a child of the
supervisor, while the client from before is still answered v1 by its old
worker.  Keep the line `VERSION = "v1"` as it is: the grader changes it.

Try it:  cd docs/exercises/07-reload && cp starter.py versioned.py
         python3 -m evloop.serve --handler versioned:Versioned --workers 2
Grade it:  python3 -m docs.grade 07-reload docs/exercises/07-reload/starter.py
"""

import evloop

VERSION = "v1"


class Versioned(evloop.Handler):
    """Every message is answered with the version and the worker's pid."""

    def data_received(self, data):
        raise NotImplementedError("Versioned.data_received")

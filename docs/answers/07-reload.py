"""Answer to 07-reload: a handler whose answer names its version and its worker.

Serve it with `--workers 2`, keep a client connected, change VERSION to
"v2", and send the supervisor SIGHUP.  New workers import the code afresh;
the old ones stop accepting and serve the connections they hold until those
close (or `--reload-grace` runs out).  So a new client is answered v2 by a
new worker, and the client from before is still answered v1 by its old one.

    cd docs/answers && cp 07-reload.py versioned.py
    python3 -m evloop.serve --handler versioned:Versioned --workers 2
"""

import os

import evloop

VERSION = "v1"


class Versioned(evloop.Handler):
    """Every message is answered with the version and the worker's pid."""

    def data_received(self, data):
        return f"{VERSION} {os.getpid()}\n".encode()

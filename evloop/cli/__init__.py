"""The command lines, on top of the library.

* `serve`, `client`, `scan`: `python3 -m evloop.serve`, `evloop.client`
  and `evloop.scan`, and the console scripts `evloop-serve`,
  `evloop-client` and `evloop-scan`;
* `states`: `python3 -m evloop.states`, the state machine drawn;
* `trace`: `python3 -m evloop.trace view run.json`, a trace file as a page;
* `aio`: `python3 -m evloop.aio script.py`, an asyncio program on evloop.aio;
* `options` (the parser and value parsers they share) and `framing` (the
  client's framings) are their helpers.

Each turns its arguments into library calls and every error a user can
cause into one line and an exit code, never a traceback.  Nothing in the
library or in bench/ imports this package: the `-m` commands reach it
through thin modules kept for them (evloop/serve.py, evloop/aio/__main__.py,
...), and the console scripts point here.
"""

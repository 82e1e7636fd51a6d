"""How evloop's log lines look: text or JSON, each with the worker that wrote it.

evloop logs through the standard `logging` module, under the logger
"evloop" (and "evloop.access", a line per connection: evloop.server.access_log),
and leaves where lines go to the program that runs it.  Only when nobody
has set logging up (the command line; `evloop.run()` finding no handler
on the root logger) does evloop do it, with `configure()`: one handler on
the root logger, to stderr, in one of two shapes:

* "text", for people: time, logger, level, message, and the logger's
  name says whose line it is (evloop's, a handler's own "gateway"):
  `2026-12-07 14:05:35,123 evloop[1] INFO stopping: draining 0 connection(s)`;
* "json", for machines (a log shipper, jq): one object per line, its
  keys time (UTC), level, logger, worker, pid and message, then the
  record's own fields (`extra=`) as keys of their own, and a traceback
  as "exception".

Workers.  Under --workers every process writes to the same stderr, so a
line must say which worker wrote it.  A forked worker calls
`tag_worker(index)`, which puts a `WorkerTag` filter on each handler of
the root logger: the filter gives every record it sees a `worker`
attribute, and no formatter is replaced.  evloop's formatters show it
(`evloop[1]`, `"worker": 1`); a formatter the embedding program chose
stays its own, and may show it as `%(worker)s`.  `current_worker()` says
which worker this process is: None in a single server or a supervisor.

Everything goes to stderr, or wherever the program's own handlers send
it: evloop opens no log file, so it has none to reopen (nginx's SIGUSR1).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
WORKER_TEXT_FORMAT = "%(asctime)s %(name)s[%(worker)s] %(levelname)s %(message)s"
# What every record has: what is not among them came with `extra=`.
RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "worker"}

_worker: int | None = None  # this process's --workers slot, once tag_worker() says it


class TextFormatter(logging.Formatter):
    """evloop's text lines: the logger's name, with its worker in brackets if it has one."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self.tagged = logging.Formatter(WORKER_TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "worker", None) is None:
            return super().format(record)
        return self.tagged.format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry: dict[str, Any] = {
            "time": f"{seconds}.{int(record.msecs):03d}Z", "level": record.levelname,
            "logger": record.name, "worker": getattr(record, "worker", None),
            "pid": record.process, "message": record.getMessage()}
        for key, value in vars(record).items():
            if key not in RECORD_ATTRIBUTES and key not in entry:
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: an `extra=` value JSON has no type for is written as its str().
        return json.dumps(entry, default=str)


FORMATTERS: dict[str, type[logging.Formatter]] = {"text": TextFormatter, "json": JsonFormatter}
LOG_FORMATS = tuple(FORMATTERS)


def configure(log_format: str = "text", level: int | str = logging.INFO) -> None:
    """Log to stderr in `log_format` ("text" or "json") at `level`, unless the
    root logger has handlers already: the program's own, left as they are."""
    if log_format not in FORMATTERS:
        raise ValueError(f"log_format ({log_format!r}) must be one of: {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(FORMATTERS[log_format]())
    logging.basicConfig(level=level, handlers=[handler])  # does nothing if handlers exist


class WorkerTag(logging.Filter):
    """Gives each record a `worker` attribute (unless it has one), and drops none."""

    def __init__(self, worker: int) -> None:
        super().__init__()
        self.worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "worker"):
            record.worker = self.worker
        return True


def tag_worker(index: int) -> None:
    """This process is --workers slot `index`: every line the root logger's
    handlers write says so from now on (a filter: their formatters are kept)."""
    global _worker
    _worker = index
    tag = WorkerTag(index)
    for handler in logging.getLogger().handlers:
        for old in [found for found in handler.filters if isinstance(found, WorkerTag)]:
            handler.removeFilter(old)  # a tag of the process it was forked from
        handler.addFilter(tag)


def current_worker() -> int | None:
    """This process's --workers slot; None in a single server or a supervisor."""
    return _worker

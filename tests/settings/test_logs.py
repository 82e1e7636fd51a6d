"""evloop.settings.logs: the text and JSON formatters, the worker's tag (a filter that
keeps every formatter), and a setup that leaves a program's own logging alone."""

import io
import json
import logging
import re
import sys

import pytest

from evloop.settings import logs

pytestmark = pytest.mark.timeout(30)


def record(name="evloop", level=logging.INFO, message="hello", args=None, **extra):
    made = logging.LogRecord(name, level, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def bare_root(monkeypatch):
    """The root logger with no handler (pytest's, added as a test starts, are put back
    after it), and this process no worker, until the test ends."""
    logger = logging.getLogger()
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "level", logger.level)
    monkeypatch.setattr(logs, "_worker", None)
    return logger


def test_text_lines_name_the_logger_and_its_worker_if_it_has_one():
    formatter = logs.TextFormatter()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d [\d:,]+ evloop INFO hello", formatter.format(record()))
    tagged = formatter.format(record("gateway", logging.WARNING, "down", worker=3))
    assert tagged.endswith(" gateway[3] WARNING down")


def test_a_json_line_is_one_object_with_the_fixed_keys_first():
    line = logs.JsonFormatter().format(record(message="two\nlines %s", args=("here",), worker=1))
    assert "\n" not in line
    entry = json.loads(line)
    assert list(entry)[:6] == ["time", "level", "logger", "worker", "pid", "message"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
    assert (entry["level"], entry["logger"], entry["worker"], entry["message"]) == (
        "INFO", "evloop", 1, "two\nlines here")


def test_a_json_line_carries_the_records_extra_fields_and_its_traceback():
    try:
        raise KeyError("lost")
    except KeyError:
        failed = record(level=logging.ERROR, exc_info=sys.exc_info(), peer="127.0.0.1:5",
                        bytes_in=12, when=object())
    entry = json.loads(logs.JsonFormatter().format(failed))
    assert entry["worker"] is None  # a single server's, or the supervisor's
    assert (entry["peer"], entry["bytes_in"]) == ("127.0.0.1:5", 12)
    assert entry["when"].startswith("<object object")  # what JSON cannot hold: its str()
    assert "Traceback" in entry["exception"] and "KeyError: 'lost'" in entry["exception"]


def test_the_worker_tag_is_a_filter_and_every_formatter_is_kept(monkeypatch):
    root = bare_root(monkeypatch)
    ours, theirs = io.StringIO(), io.StringIO()
    evloops = logging.StreamHandler(ours)
    evloops.setFormatter(logs.TextFormatter())
    embedders = logging.StreamHandler(theirs)
    embedded = logging.Formatter("EMBED|%(worker)s|%(message)s")
    embedders.setFormatter(embedded)
    root.handlers.extend([evloops, embedders])
    logs.tag_worker(2)
    logs.tag_worker(4)  # forked again: the newer tag replaces the older
    assert embedders.formatter is embedded and logs.current_worker() == 4
    for handler in (evloops, embedders):
        handler.handle(record(message="ready"))
    assert ours.getvalue().endswith(" evloop[4] INFO ready\n")
    assert theirs.getvalue() == "EMBED|4|ready\n"


def test_configure_sets_up_json_on_stderr_once(monkeypatch):
    root = bare_root(monkeypatch)
    logs.configure("json", "WARNING")
    (handler,) = root.handlers
    assert isinstance(handler.formatter, logs.JsonFormatter) and handler.stream is sys.stderr
    assert root.level == logging.WARNING
    logs.configure("text")  # set up already: left as it is
    assert root.handlers == [handler] and root.level == logging.WARNING


def test_configure_leaves_a_programs_own_handlers_alone(monkeypatch):
    root = bare_root(monkeypatch)
    own = logging.StreamHandler(io.StringIO())
    root.handlers.append(own)
    logs.configure()
    assert root.handlers == [own] and own.formatter is None


def test_an_unknown_format_is_a_value_error(monkeypatch):
    root = bare_root(monkeypatch)
    with pytest.raises(ValueError, match=r"log_format \('xml'\) must be one of: text, json"):
        logs.configure("xml")
    assert not root.handlers

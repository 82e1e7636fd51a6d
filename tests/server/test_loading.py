"""Every mistake in a --handler argument is found at load time, in one line."""

import textwrap

import pytest

from evloop import Handler
from evloop import HandlerLoadError
from evloop import LineHandler
from evloop import load_handler
from evloop.handlers.lenprefix import LenPrefixHandler
from evloop.server.loading import BUILTIN
from evloop.server.loading import handler_label
from evloop.server.loading import handler_problem


@pytest.fixture
def module(tmp_path, monkeypatch):
    """Write a module of the user's into a directory on sys.path."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written = []

    def write(name, source):
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        written.append(name)
        return tmp_path / f"{name}.py"

    yield write
    import sys
    for name in written:
        sys.modules.pop(name, None)


def one_line_error(spec):
    with pytest.raises(HandlerLoadError) as caught:
        load_handler(spec)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_builtins_load_by_name():
    assert load_handler("lenprefix") is LenPrefixHandler
    for name in BUILTIN:
        assert handler_problem(load_handler(name)) is None
        assert handler_label(name) == name


def test_a_syntax_error_names_the_file_and_line(module):
    module("broken_syntax", """\
        from evloop import Handler

        class Broken(Handler):
            def data_received(self, data)
                return data
        """)
    message = one_line_error("broken_syntax:Broken")
    assert "syntax error in " in message and "broken_syntax.py, line 4" in message


def test_an_import_error_inside_the_module_names_where(module):
    module("imports_nothing", """\
        import evloop
        import no_such_module_anywhere
        """)
    message = one_line_error("imports_nothing:X")
    assert "ModuleNotFoundError" in message and "imports_nothing.py, line 2" in message
    assert "no_such_module_anywhere" in message


def test_any_exception_at_import_is_one_line(module):
    module("divides", "x = 1 / 0\n")
    message = one_line_error("divides:X")
    assert "ZeroDivisionError" in message and "divides.py, line 1" in message


def test_a_missing_module_says_where_it_looked():
    assert "no module named 'nowhere_at_all'" in one_line_error("nowhere_at_all:X")
    assert "no module named 'nowhere_at_all'" in one_line_error("nowhere_at_all.sub:X")


@pytest.mark.parametrize("name, expected", [
    ("func", "is a function, not a Handler subclass"),
    ("Plain", "is a class, but not a Handler subclass: declare it as class Plain(evloop.Handler)"),
    ("instance", "is a Plain object, not a Handler subclass"),
    ("NoData", "does not define data_received(self, data)"),
    ("NoLines", "does not define line_received(self, line)"),
    ("Missing", "has no 'Missing'"),
])
def test_names_that_cannot_serve_are_refused(module, name, expected):
    module("user_things", """\
        from evloop import Handler, LineHandler

        def func():
            pass

        class Plain:
            pass

        instance = Plain()

        class NoData(Handler):
            pass

        class NoLines(LineHandler):
            pass
        """)
    assert expected in one_line_error(f"user_things:{name}")


def test_specs_without_a_class_list_the_builtins():
    assert "built-in handlers: echo, uppercase, lenprefix" in one_line_error("nope")
    assert "module:ClassName" in one_line_error("module:")


def test_handler_problem_accepts_real_handlers():
    class Good(Handler):
        def data_received(self, data):
            return data

    class Lines(LineHandler):
        def line_received(self, line):
            return line

    assert handler_problem(Good) is None and handler_problem(Lines) is None
    assert handler_label("pkg.mod:Good") == "Good"

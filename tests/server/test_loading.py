"""Every mistake in a --handler argument is found at load time, in one line."""

import re
import subprocess
import sys
import textwrap

import pytest

import evloop
from evloop import Config
from evloop import Handler
from evloop import HandlerLoadError
from evloop import LineHandler
from evloop import load_handler
from evloop.handlers.lenprefix import LenPrefixHandler
from evloop.server.loading import BUILTIN
from evloop.server.loading import handler_label
from evloop.server.loading import handler_problem
from evloop.server.server import Server
from tests.conftest import cli_env


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


def parse_list(text):
    return [part for part in text.split(",") if part]


class Tagged(Handler):
    """Options declared as a handler author writes them: one with a text default."""

    options = {"n": evloop.Option("a count", type=int, default="7"),
               "tags": evloop.Option("comma-separated tags", type=parse_list, default="a,b"),
               "label": evloop.Option("no default: __init__'s own applies")}

    def __init__(self, max_message=65536, n=0, tags=(), label="unset"):
        super().__init__(max_message)
        self.n, self.tags, self.label = n, tags, label

    def data_received(self, data):
        return data


@pytest.mark.parametrize("given, expected", [
    ({}, (7, ["a", "b"], "unset")),
    ({"n": "3", "tags": "x"}, (3, ["x"], "unset")),
    ({"n": 7, "tags": "a,b", "label": "L"}, (7, ["a", "b"], "L")),
])
def test_an_option_is_the_same_value_with_its_flag_and_without(given, expected):
    server = Server(Tagged, Config(port=0, handler_options=given))
    try:
        handler = server.factory()
        assert (handler.n, handler.tags, handler.label) == expected
        options = server.server_context.options
        assert (options["n"], options["tags"]) == expected[:2]
        assert options["label"] == (given.get("label"))
    finally:
        server.close()


class NoKeyword(Handler):
    options = {"greeting": evloop.Option("what to say first", default="hi")}

    def data_received(self, data):
        return data


class BadDefault(Handler):
    options = {"n": evloop.Option("a count", type=int, default="seven")}

    def __init__(self, max_message=65536, n=0):
        super().__init__(max_message)

    def data_received(self, data):
        return data


class Collides(Handler):
    options = {"port": evloop.Option("the backend's port", type=int)}

    def __init__(self, max_message=65536, port=None):
        super().__init__(max_message)

    def data_received(self, data):
        return data


class TakesAnything(Handler):
    options = {"greeting": evloop.Option("what to say first", default="hi")}

    def __init__(self, max_message=65536, **options):
        super().__init__(max_message)
        self.options_given = options

    def data_received(self, data):
        return data


@pytest.mark.parametrize("handler, expected", [
    (NoKeyword, "declares option(s) greeting that its __init__ does not take: add greeting=..."),
    (BadDefault, "declares a default its type refuses: handler option n ('seven') is not valid"),
    (Collides, "declares option 'port', which is one of the server's own options: rename it"),
])
def test_options_that_cannot_work_are_found_before_a_client_connects(handler, expected):
    assert handler_problem(handler).startswith(expected)
    with pytest.raises(TypeError, match=re.escape(expected)):
        Server(handler, Config(port=0))


def test_an_init_with_keyword_catch_all_takes_every_option():
    assert handler_problem(TakesAnything) is None
    server = Server(TakesAnything, Config(port=0))
    try:
        assert server.factory().options_given == {"greeting": "hi"}
    finally:
        server.close()


def test_no_handler_option_can_take_a_flag_of_the_command_line():
    from evloop.cli.serve import build_parser
    from evloop.server.loading import SERVER_OPTIONS
    flags = {action.dest for action in build_parser()._actions}
    assert flags <= SERVER_OPTIONS


def test_a_handler_whose_options_cannot_work_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "nokw.py").write_text(textwrap.dedent("""\
        import evloop

        class Greeter(evloop.Handler):
            options = {"greeting": evloop.Option("what to say first", default="hi")}

            def data_received(self, data):
                return data
    """))
    done = subprocess.run([sys.executable, "-m", "evloop.serve", "--handler", "nokw:Greeter",
                           "--port", "0"], capture_output=True, text=True, cwd=tmp_path,
                          env=cli_env(), timeout=30, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "declares option(s) greeting that its __init__ does not take" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2, done.stderr  # argparse's usage line, then it

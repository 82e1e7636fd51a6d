"""The layering rules, read from the source: the packages stand in layers and
imports run down them only; handlers do no I/O; the loop knows no connection
and no handler; the library never imports its command lines; bench/ uses the
public API; and no module of evloop/ imports itself back through others."""

import ast
import asyncio
import pathlib
import re
import socket

import evloop
from evloop.diagrams.packages import LAYER

PACKAGE = pathlib.Path(evloop.__file__).parent
ROOT = PACKAGE.parent
IO_MODULES = {"socket", "selectors", "select", "ssl", "asyncio", "socketserver", "threading"}
# `python3 -m evloop.serve` (and client, scan, states) must keep working: these
# modules, and a package's __main__.py (`python3 -m evloop.trace`), only run
# evloop.cli's main under `if __name__ == "__main__"`.
COMMAND_SHIMS = {"serve.py", "client.py", "scan.py", "states.py"}


def is_shim(path):
    return (path.parent == PACKAGE and path.name in COMMAND_SHIMS) or path.name == "__main__.py"


def shims():
    return sorted([PACKAGE / name for name in COMMAND_SHIMS] + list(PACKAGE.rglob("__main__.py")))


def shim_target(path):
    """The command line a shim runs: evloop.cli.serve for serve.py, evloop.cli.trace for trace/__main__.py."""
    return "evloop.cli." + (path.parent.name if path.name == "__main__.py" else path.stem)


def imported_modules(path, top_level_only=False):
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # a relative import: evloop uses none, keep it so
                yield "." * node.level + (node.module or "")
            else:
                yield node.module or ""
                for alias in node.names:  # `from evloop import trace` imports evloop.trace
                    yield f"{node.module}.{alias.name}"


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_of(module):
    """"evloop.connection.tls" -> "connection"; None for evloop itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def library_files():
    return [path for path in PACKAGE.rglob("*.py")
            if "cli" not in path.relative_to(PACKAGE).parts[:1] and not is_shim(path)]


def evloop_modules():
    return {module_name(path) for path in PACKAGE.rglob("*.py")}


def test_the_top_level_holds_only_packages_the_shims_and_init():
    loose = sorted(path.name for path in PACKAGE.iterdir()
                   if path.is_file() and path.name not in {"__init__.py", "py.typed"}
                   and path.name not in COMMAND_SHIMS)
    assert not loose, f"modules at evloop's top level: {loose}"
    packages = {path.name for path in PACKAGE.iterdir()
                if path.is_dir() and (path / "__init__.py").exists()}
    assert packages == set(LAYER), packages ^ set(LAYER)


def test_imports_run_down_the_layers_only():
    modules = evloop_modules()
    for path in library_files() + sorted((PACKAGE / "cli").glob("*.py")):
        here = package_of(module_name(path))
        if here is None:
            continue  # evloop/__init__.py: the public face, above every layer
        for module in imported_modules(path):
            if module not in modules or not module.startswith("evloop."):
                continue
            there = package_of(module)
            assert there == here or LAYER[there] < LAYER[here], (
                f"{path.relative_to(ROOT)} (layer {LAYER[here]}) imports {module} "
                f"(layer {LAYER[there]})")


def test_every_module_has_a_test_file_of_its_own():
    """STYLE.md rule 8: tests/<package>/test_<module>.py for evloop/<package>/<module>.py."""
    missing = [f"tests/{path.parent.name}/test_{path.stem}.py" for path in PACKAGE.glob("*/*.py")
               if path.stem not in ("__init__", "__main__")
               and not (ROOT / "tests" / path.parent.name / f"test_{path.stem}.py").exists()]
    assert not missing, missing


def test_handlers_import_no_io_modules():
    handler_files = sorted((PACKAGE / "handlers").glob("*.py"))
    assert len(handler_files) >= 7
    for path in handler_files:
        for module in imported_modules(path):
            assert module.split(".")[0] not in IO_MODULES, f"{path.name} imports {module}"
            assert not module.startswith("."), f"{path.name}: relative import {module}"


def test_the_loop_imports_nothing_of_evloop_but_its_own_parts():
    for path in sorted((PACKAGE / "loop").glob("*.py")):
        for module in imported_modules(path):
            if module.startswith("evloop"):
                assert module.startswith("evloop.loop."), f"loop/{path.name} imports {module}"


def test_connection_knows_handlers_only_by_their_api():
    for path in sorted((PACKAGE / "connection").glob("*.py")):
        for module in imported_modules(path):
            if module.startswith("evloop.handlers"):
                owner = module if module.count(".") == 2 else module.rsplit(".", 1)[0]
                assert owner in {"evloop.handlers.base", "evloop.handlers.context",
                                 "evloop.handlers.addresses"}, \
                    f"connection/{path.name} imports {module}"


def test_the_library_never_imports_its_command_lines():
    files = library_files()
    assert len(files) >= 20
    for path in files:
        for module in imported_modules(path):
            assert not module.startswith("evloop.cli"), f"{path.relative_to(ROOT)} imports {module}"


def test_the_command_shims_import_nothing_when_imported():
    for path in shims():
        name = path.relative_to(PACKAGE)
        assert not list(imported_modules(path, top_level_only=True)), f"{name} imports at top level"
        assert shim_target(path) in set(imported_modules(path)), name


def test_bench_uses_only_the_public_api():
    # evloop.aio, the asyncio face, is a public package of its own.
    public = {"evloop", "evloop.aio", *(f"evloop.{name}" for name in evloop.__all__)}
    files = sorted((ROOT / "bench").glob("*.py"))
    assert len(files) >= 15
    for path in files:
        for module in imported_modules(path):
            if module.startswith("evloop"):
                assert module in public, f"bench/{path.name} imports {module}"


def test_no_import_circle_anywhere_in_evloop():
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        graph[name] = set()
        for module in imported_modules(path):
            # `from evloop.x import name`: the module evloop.x (or evloop.x.name, if a module)
            graph[name].add(module)
    modules = set(graph)
    for name, targets in graph.items():
        graph[name] = {t for t in targets if t in modules and t != name and t != "evloop"}
    seen, stack, circles = {}, [], []

    def visit(node):
        seen[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if seen.get(target) == "open":
                circles.append(stack[stack.index(target):] + [target])
            elif target not in seen:
                visit(target)
        stack.pop()
        seen[node] = "done"

    for node in sorted(graph):
        if node not in seen:
            visit(node)
    assert len(graph) >= 25
    assert not circles, circles


# Modules allowed more than 300 lines of code, and why.  The connection is one
# object around one state machine, with its readers (replying, forwarding,
# splicing; the first two send as write() would, written out in each, a call
# less per message: bench/results/README.md, "Relays"), the write path and every
# transition in it; what can stand alone is a part of its own.  The supervisor
# is one state machine over its workers: replacement, reload, scaling and stop
# read and write the same few fields.  The server has two ends: shutdown, and an
# old worker's retire, and says which it is in (readiness, for /readyz).  The loop
# is one class (descriptors, callbacks, timers, signals, errors, instruments,
# running), and run_once keeps its hot path in one method.
LONGER = {"connection/connection.py": 640, "supervisor/supervisor.py": 475,
          "server/server.py": 330, "loop/base.py": 400}


def test_modules_stay_small_and_open_with_a_short_essay():
    """STYLE.md: one concept per module, under about 300 lines after its essay."""
    for path in PACKAGE.rglob("*.py"):
        name = str(path.relative_to(PACKAGE))
        tree = ast.parse(path.read_text())
        essay = ast.get_docstring(tree, clean=False)
        first_code = tree.body[1 if essay else 0].lineno if len(tree.body) > 1 else 1
        code_lines = len(path.read_text().splitlines()) - first_code + 1
        assert code_lines <= LONGER.get(name, 300), f"{name} has {code_lines} lines after its essay"
        assert essay, f"{name} opens with no essay"
        assert len(essay.splitlines()) < 40, f"{name}'s essay has {len(essay.splitlines())} lines"


def test_the_connection_inherits_nothing_and_declares_no_host():
    """Parts, held, not a mixin chain: no base class, and no TYPE_CHECKING block
    re-declaring a host's attributes, in the connection or any of its parts."""
    for path in sorted((PACKAGE / "connection").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                raise AssertionError(f"connection/{path.name} has a TYPE_CHECKING block")
            if isinstance(node, ast.ClassDef) and node.name in ("Connection", "ConnectionContext"):
                assert not node.bases, f"{node.name} inherits {ast.unparse(node.bases[0])}"


def test_the_public_api_is_what_init_exports():
    for name in evloop.__all__:
        assert hasattr(evloop, name), name
    for name in ("Handler", "LineHandler", "ProtocolError", "Config", "Server", "Loop", "run"):
        assert name in evloop.__all__
    assert (PACKAGE / "py.typed").exists()


def test_the_readme_names_exactly_the_public_api():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("The public API is what `evloop/__init__.py` exports")
    paragraph = readme[start:readme.index("\n\n", start)]
    named = set(re.findall(r"`(\w+)`", paragraph)) - {"stats", "connect", "call_later"}
    assert named == set(evloop.__all__), named ^ set(evloop.__all__)


# Underscore names that are not evloop's to guard: asyncio's contract with its
# loops (a Handle's _run, _cancelled, _callback, _when..., which evloop's Timer
# shares so that one queue holds both), and the standard library's socket.
FOREIGN_PRIVATE = ({name for cls in (asyncio.Handle, asyncio.TimerHandle)
                    for name in (*dir(cls), *getattr(cls, "__slots__", ()))}
                   | set(dir(socket.socket)))
# The names evloop holds its objects under, and the packages whose objects they
# are (`loop` is an evloop.aio loop in aio/, a BaseLoop elsewhere; `server` an aio
# AsyncioServer in aio/).  Outside those packages, no underscore name may follow one.
HOLDERS = {"_evloop": {"loop"}, "loop": {"loop", "aio"}, "connection": {"connection"},
           "conn": {"connection"}, "server": {"server", "aio"}}


def underscore_names_by_package():
    """Each package's own underscore attributes: set on self or cls, or defined in a class."""
    defined = {}
    for path in PACKAGE.rglob("*.py"):
        here = package_of(module_name(path))
        for cls in (n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ClassDef)):
            for node in ast.walk(cls):
                names = []
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    names = [node.name]
                elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                        and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                    names = [node.attr]
                elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    names = [t.id for t in targets if isinstance(t, ast.Name)]
                for name in names:
                    if name.startswith("_") and not name.startswith("__"):
                        defined.setdefault(name, set()).add(here)
    return defined


def reaches(source, here, defined):
    """The lines of `source` (a module of package `here`) that reach into another
    package's underscore names: by attribute, or by import."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("evloop."):
            if package_of(node.module) != here:
                found += [f"{node.lineno}: imports {node.module}.{alias.name}"
                          for alias in node.names if alias.name.startswith("_")]
        if not (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and not node.attr.startswith("__")):
            continue
        holder = node.value
        held = holder.attr if isinstance(holder, ast.Attribute) else getattr(holder, "id", None)
        if held in ("self", "cls") and isinstance(holder, ast.Name):
            continue  # its own
        if held in HOLDERS:  # an evloop object: its package's names, whatever they are
            if here not in HOLDERS[held]:
                found.append(f"{node.lineno}: {ast.unparse(node)}")
            continue
        if node.attr in FOREIGN_PRIVATE:
            continue  # a Handle's or a socket's, under some other name
        owners = defined.get(node.attr, set())
        if owners and here not in owners:
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_reaches_into_another_package_s_underscore_attributes():
    """What a package keeps private (the Loop's queue, a Connection's parts, a
    Server's listeners) is reached from outside it only through public methods."""
    defined = underscore_names_by_package()
    found = [f"{path.relative_to(ROOT)}:{line}" for path in sorted(PACKAGE.rglob("*.py"))
             for line in reaches(path.read_text(), package_of(module_name(path)), defined)]
    assert not found, "\n".join(found)


def test_the_underscore_check_sees_a_reach_across_packages():
    defined = underscore_names_by_package()
    assert reaches("self._evloop._ready.append(handle)", "aio", defined)  # the Loop's queue
    assert reaches("connection._transition(event)", "trace", defined)  # a Connection's
    assert reaches("from evloop.loop.errors import _private", "aio", defined)
    assert reaches("loop._timers.push(t)", "connection", defined)  # a name only loop/ defines
    assert reaches("self.loop._ready.clear()", "supervisor", defined)  # though it has a _ready
    assert reaches("self.loop._closed", "trace", defined)  # though sockets have a _closed
    assert reaches("server._loop", "trace", defined)
    assert not reaches("handle._callback(*handle._args)", "loop", defined)  # asyncio's contract
    assert not reaches("self.loop._current_handle = h", "aio", defined)  # aio's own loop
    assert not reaches("self._poll(0)", "loop", defined)

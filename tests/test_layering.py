"""The layering rule: handlers do no I/O, the loop knows no handler."""

import ast
import pathlib

import evloop

PACKAGE = pathlib.Path(evloop.__file__).parent
IO_MODULES = {"socket", "selectors", "select", "ssl", "asyncio", "socketserver", "threading"}


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.module or ""


def test_handlers_import_no_io_modules():
    handler_files = sorted((PACKAGE / "handlers").glob("*.py"))
    assert len(handler_files) >= 5
    for path in handler_files:
        for module in imported_modules(path):
            assert module.split(".")[0] not in IO_MODULES, f"{path.name} imports {module}"


def test_loop_imports_no_handler_and_no_connection():
    for module in imported_modules(PACKAGE / "loop.py"):
        # Choosing and driving a selector is the loop's own business.
        assert module in ("evloop.selecting", "evloop.fastepoll") or not module.startswith("evloop"), \
            f"loop.py imports {module}"


def test_connection_knows_handlers_only_by_their_error_type():
    modules = set(imported_modules(PACKAGE / "connection.py"))
    assert {m for m in modules if m.startswith("evloop.handlers")} == {"evloop.handlers.base"}


def test_modules_stay_small():
    """STYLE.md: one concept per module, under about 300 lines after its essay."""
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        essay = ast.get_docstring(tree, clean=False)
        first_code = tree.body[1 if essay else 0].lineno if len(tree.body) > 1 else 1
        code_lines = len(path.read_text().splitlines()) - first_code + 1
        assert code_lines <= 300, f"{path.name} has {code_lines} lines after its essay"

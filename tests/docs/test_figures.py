"""Every figure the docs quote from a committed result file is in that file.

The convention, which the docs follow and this test holds them to:

- A line *cites* a result file when it names one of the files in bench/results/
  (`relay.md`, `bench/results/relay.md`, a link to it): a file and its twin
  (`relay.md` and `relay.json`, the same run) count as one source.
- Every figure on a citing line must appear in what it cites.  A figure is a
  number in the prose: `43,060` is 43060, `1.05x` is 1.05, `70.2%` is 70.2,
  `5.3` equals `5.30`, and a figure may be shown to fewer decimals than the file
  gives it (`42` for `42.4`), never in another unit (`377 ms` is not `376,831 us`).  Not figures: numbers in `code spans` (commands, flags)
  and in link targets, and numbers glued to letters (P1, v782, 1b40744).  A date
  (2026-12-01) is one figure; for a file that carries no date of its own it must
  be the date of the commit that added the file.
- A table directly under a paragraph that cites files quotes those files; a table
  row that names a file of its own quotes that one instead.  Every cell but the
  first (which names the row) is checked as a citing line is, except in a
  derived column: a header `A / B` or `A - B`, where A and B are the headers of
  two other columns, says the cell is computed from the row's A and B cells, and
  it must be, to the digits shown (each operand taken to within its rounding).
- Fenced code blocks quote nothing.
- A measured figure must quote a file, or say that it does not.  A table whose
  headers or the paragraph above it name a measured quantity (msg/s, µs, ms, MiB, RSS, CPU, p99, instructions,
  served, reset, a ratio `A / B`) must sit under a paragraph that cites a result file
  or name one in each row; a prose line with a figure in msg/s, µs, req/s,
  connections/s or datagrams/s must name its file.  Otherwise the paragraph says why
  it names none: "an illustration", or "not kept as a result file".  A table under a
  paragraph that names a command, not its file, was once checked by nothing.

The docs checked are README.md, docs/*.md and bench/results/README.md; every result
file they name must exist, or a rename would leave its quotes unchecked.

So a figure the prose works out from a file (a ratio of two rows) is written on a
line that cites no file, or in a derived column that shows its operands.
"""

import decimal
import functools
import os
import re
import subprocess

import pytest

from tests.conftest import ROOT

RESULTS = os.path.join(ROOT, "bench", "results")
DOCS = (["README.md", os.path.join("bench", "results", "README.md")]
        + sorted(os.path.join("docs", name) for name in os.listdir(os.path.join(ROOT, "docs"))
                 if name.endswith(".md")))
FENCE = re.compile(r"^```.*?^```[^\n]*$", re.S | re.M)
DATE = r"\d{4}-\d{2}-\d{2}"
# A number not glued to a word or a decimal point before it, nor to a digit, a word
# or a further decimal part after it; x, k and % may follow (1.05x, 48k, 70.2%).
NUMBER = re.compile(rf"(?<![\w.])(?:({DATE})|(\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?))"
                    r"(?!\d|,\d|\.\d)(?![^\W\dxk]|[xk]\w)")
CODE = re.compile(r"`[^`]*`")
TARGET = re.compile(r"\]\([^)]*\)")


def result_files():
    # Files only: bench/results/runs/ (git-ignored) holds the runs made by hand.
    return sorted(name for name in os.listdir(RESULTS)
                  if name != "README.md" and not name.endswith((".png", ".svg"))
                  and os.path.isfile(os.path.join(RESULTS, name)))


@functools.lru_cache(maxsize=None)
def cited_pattern():
    names = sorted(result_files(), key=len, reverse=True)
    return re.compile(r"(?<![\w.-])(" + "|".join(map(re.escape, names)) + r")(?![\w-])")


def sources(line):
    """The result files a line names, each with its twin of the same run."""
    found = set()
    for name in cited_pattern().findall(line):
        stem = os.path.splitext(name)[0]
        found.add(name)
        found.update(twin for twin in (stem + ".md", stem + ".json") if twin in result_files())
    return frozenset(found)


def figures(text):
    """(figure as written, Decimal or date string) for each figure in a piece of prose."""
    text = TARGET.sub("]", CODE.sub(" ", text))
    text = cited_pattern().sub(" ", text)
    for match in NUMBER.finditer(text):
        date, number = match.groups()
        if date:
            yield date, date
        else:
            yield match.group(0), decimal.Decimal(number.replace(",", ""))


@functools.lru_cache(maxsize=None)
def added_on(name):
    """The date of the commit that added bench/results/NAME, for a file that has no date."""
    try:
        run = subprocess.run(["git", "log", "--diff-filter=A", "--format=%ad", "--date=short", "--",
                              os.path.join("bench", "results", name)],
                             cwd=ROOT, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        pytest.skip("git is not installed: the dates of undated result files cannot be checked")
    if run.returncode != 0:
        pytest.skip(f"not a git checkout ({run.stderr.strip()[:80]}): undated result files cannot be dated")
    dates = run.stdout.split()
    return dates[-1] if dates else None


@functools.lru_cache(maxsize=None)
def contents(names):
    """Every figure in the files NAMES, also rounded to each fewer number of decimals,
    and their dates (added_on for a file that has none)."""
    found = set()
    for name in sorted(names):
        with open(os.path.join(RESULTS, name), encoding="utf-8") as f:
            text = f.read()
        for _, value in figures(text):
            found.add(value)
            if isinstance(value, decimal.Decimal):
                for places in range(value.as_tuple().exponent + 1, 1):
                    unit = decimal.Decimal(1).scaleb(places)
                    found.add(value.quantize(unit, decimal.ROUND_HALF_UP))
                    found.add(value.quantize(unit, decimal.ROUND_HALF_EVEN))
        if not re.search(DATE, text):
            found.add(added_on(name))
    return found


def in_file(value, names):
    """VALUE is in the files, as written there or shown to fewer decimals (42 for 42.4)."""
    return value in contents(names)


def cells(row):
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def interval(written):
    """The values a figure shown as WRITTEN may stand for: [low, high]."""
    number = decimal.Decimal(written.rstrip("x%k").replace(",", ""))
    half = decimal.Decimal(5) * decimal.Decimal(10) ** (number.as_tuple().exponent - 1)
    return number - half, number + half


def derived_ok(shown, a, b, operator):
    if not (shown and a and b):
        return None
    try:
        (slo, shi), (alo, ahi), (blo, bhi) = interval(shown), interval(a), interval(b)
    except decimal.InvalidOperation:
        return False
    if operator == "/":
        if blo <= 0:
            return False
        lo, hi = alo / bhi, ahi / blo
    else:
        lo, hi = alo - bhi, ahi - blo
    return lo <= shi and slo <= hi


def check_figures(where, line, prose, names):
    """(messages, count) for the figures of PROSE, which must all be in the files NAMES."""
    found = []
    shown = list(figures(prose))
    for written, value in shown:
        if not in_file(value, names):
            found.append(f"{where}: {written} is not in {', '.join(sorted(names))}\n  {line}")
    return found, len(shown)


def check_derived(where, line, header, row, column):
    """(messages, count) for a cell of a derived column, or None if COLUMN is not one."""
    derived = re.fullmatch(r"(.+?) ([/-]) (.+)", header[column])
    if not (derived and derived.group(1) in header and derived.group(3) in header):
        return None
    a = row[header.index(derived.group(1))].strip("*")
    b = row[header.index(derived.group(3))].strip("*")
    cell = row[column].strip("*")
    ok = derived_ok(cell, a, b, derived.group(2))
    if ok is None:  # an empty cell or operand: nothing is claimed
        return [], 0
    if ok:
        return [], 1
    return [f"{where}: {cell} is not {a} {derived.group(2)} {b} (column {header[column]!r})\n  {line}"], 1


def problems(text, doc):
    """(messages, figures checked) for the markdown TEXT of DOC: one message per figure its file lacks."""
    text = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    found, checked = [], 0
    paragraph = frozenset()  # what the paragraph above cites: a table under it quotes that
    in_paragraph = False
    header = None
    for number, line in enumerate(text.split("\n"), 1):
        where = f"{doc}:{number}"
        if not line.strip():
            in_paragraph, header = False, None
            continue
        if not line.lstrip().startswith("|"):
            paragraph = (paragraph if in_paragraph else frozenset()) | sources(line)
            in_paragraph, header = True, None
            if sources(line):
                more, count = check_figures(where, line, line, sources(line))
                found, checked = found + more, checked + count
            continue
        in_paragraph = False
        row = cells(line)
        if header is None:
            header = row
            continue
        names = sources(line) or paragraph
        if not names or all(set(cell) <= set("-: ") for cell in row):
            continue
        for column in range(1, min(len(row), len(header))):
            result = check_derived(where, line, header, row, column)
            if result is None:
                result = check_figures(where, line, row[column], names)
            found, checked = found + result[0], checked + result[1]
    return found, checked


# Headers that say a table's cells were measured, and prose figures in a unit of measure.
MEASURED_HEADER = re.compile(r"msg/s|/s\b|µs|\bus\b|\bms\b|MiB|\bRSS\b|\bCPU\b|p50|p99|instructions"
                             r"|served|\breset\b|latency|per second| / ", re.I)
MEASURED_PROSE = re.compile(r"\d[\d,.]*k? ?(?:msg/s|µs|req/s|connections/s|datagrams/s)")
UNQUOTED = re.compile(r"illustration|not kept as a result file", re.I)


def unquoted(text, doc):
    """Messages for measured figures that name no result file and do not say why."""
    text = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    found = []
    paragraph, marked, lines, above = frozenset(), False, [], []  # the paragraph above, as problems() reads it
    header = None
    for number, line in enumerate(text.split("\n") + [""], 1):
        if not line.strip() or line.lstrip().startswith("|"):
            found += [f"{doc}:{n}: a figure in a unit of measure names no result file\n  {prose}"
                      for n, prose in lines if not marked and not sources(prose)
                      and MEASURED_PROSE.search(CODE.sub(" ", prose))]
            lines = []
        if not line.strip():
            header = None
            continue
        if not line.lstrip().startswith("|"):
            if not lines:
                paragraph, marked, above = frozenset(), False, []
            lines.append((number, line))
            above.append((number, line))
            paragraph |= sources(line)
            marked = marked or bool(UNQUOTED.search(line))
            header = None
            continue
        row = cells(line)
        if header is None:
            header = row
            continue
        said = " | ".join(header[1:]) + " " + " ".join(prose for _, prose in above)
        if (sources(line) or paragraph or marked or all(set(cell) <= set("-: ") for cell in row)
                or not MEASURED_HEADER.search(said)):
            continue
        if any(list(figures(cell)) for cell in row[1:]):
            found.append(f"{doc}:{number}: a table of measured figures under no cited file\n  {line}")
    return found


def read(doc):
    with open(os.path.join(ROOT, doc), encoding="utf-8") as f:
        return f.read()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("doc", DOCS)
def test_every_figure_quoted_from_a_result_file_is_in_that_file(doc):
    found, _ = problems(read(doc), doc)
    assert not found, "figures the cited result file does not hold:\n" + "\n".join(found)


@pytest.mark.parametrize("doc", DOCS)
def test_every_measured_figure_names_its_file_or_says_why_not(doc):
    found = unquoted(read(doc), doc)
    assert not found, "measured figures quoting no result file:\n" + "\n".join(found)


def test_a_table_under_a_command_and_not_its_file_fails():
    # How the SO_REUSEPORT handoff figures once went unchecked: the paragraph named the
    # command that made them, not the file, so no figure of the table was compared.
    text = ("`python3 -m bench.handoff` measures it on loopback (medians of 3 rounds):\n\n"
            "| how the workers share the port | `tcp_migrate_req` | served | reset |\n"
            "|---|---|---|---|\n"
            "| a SO_REUSEPORT listener each | 0 (the default) | 101 | 99 |\n")
    assert problems(text, "t.md") == ([], 0)  # the figure check alone sees nothing to check
    found = unquoted(text, "t.md")
    assert len(found) == 1 and "t.md:5" in found[0], found
    cited = text.replace("measures it", "measured it (`bench/results/handoff.txt`)")
    assert unquoted(cited, "t.md") == []
    found, checked = problems(cited, "t.md")
    assert checked >= 3 and len(found) == 2 and "101 is not in handoff.txt" in found[0], found
    assert unquoted(text.replace("(medians", "(an illustration: medians"), "t.md") == []


def test_a_prose_figure_in_a_unit_must_name_its_file():
    text = "The relay ran 43,060 msg/s at 100 connections,\nagainst uvloop (`relay.md`).\n"
    found = unquoted(text, "t.md")
    assert len(found) == 1 and "t.md:1" in found[0], found
    assert unquoted("The relay ran 43,060 msg/s (`relay.md`).\n", "t.md") == []
    assert unquoted("About 5 µs, not kept as a result file.\n", "t.md") == []
    assert unquoted("```\n43,060 msg/s\n```\n", "t.md") == []


def test_every_result_file_the_docs_name_exists():
    # A renamed or removed file would turn its quotes into prose nobody checks.
    named = []
    for doc in DOCS:
        text = FENCE.sub("", read(doc))
        named += [(doc, name) for name in re.findall(r"bench/results/([\w.-]+\.\w+)", text)]
        if doc in ("docs/appendix-performance.md", os.path.join("bench", "results", "README.md")):
            named += [(doc, name) for name in re.findall(r"`([\w-]+\.(?:md|json|txt))`", text)]
    missing = [(doc, name) for doc, name in named
               if not name.startswith("NAME.") and not os.path.exists(os.path.join(RESULTS, name))]
    assert len(named) >= 50 and not missing, missing


def test_the_results_page_and_the_appendix_quote_many_figures():
    # The convention must find the quotes: a checker that matched nothing would pass.
    results = os.path.join("bench", "results", "README.md")
    _, checked = problems(read(results), results)
    assert checked >= 500, checked
    _, checked = problems(read("docs/appendix-performance.md"), "docs/appendix-performance.md")
    assert checked >= 50, checked


def prose_words(text):
    """Words outside fenced code blocks."""
    return len(FENCE.sub("", text).split())


def test_the_performance_appendix_stays_short():
    # How to measure and how to read a ratio, not the history of every run: that is
    # bench/results/README.md's.
    words = prose_words(read("docs/appendix-performance.md"))
    assert words <= 2500, f"docs/appendix-performance.md has {words} words outside code blocks"
    assert prose_words("a b\n```sh\nc d e\n```\nf\n") == 3


def test_a_doctored_figure_on_a_citing_line_fails():
    line = "The relay ran 43,061 msg/s at 100 connections (`bench/results/relay.md`)."
    found, checked = problems(line, "doctored.md")
    assert checked >= 2 and len(found) == 1, found
    assert "doctored.md:1" in found[0] and "43,061" in found[0] and "relay.md" in found[0]
    assert problems(line.replace("43,061", "43,060"), "doctored.md") == ([], checked)


def test_a_doctored_table_cell_and_ratio_fail():
    table = ("From [relay.md](../bench/results/relay.md), messages per second:\n\n"
             "| connections | evloop | uvloop | evloop / uvloop |\n|---|---:|---:|---:|\n"
             "| 100 | 43,060 | 48,962 | 0.88x |\n")
    assert problems(table, "t.md") == ([], 3)
    found, _ = problems(table.replace("48,962", "49,962"), "t.md")
    assert len(found) == 2 and "49,962 is not in relay.json, relay.md" in found[0], found
    assert "t.md:5" in found[0] and "0.88x is not 43,060 / 49,962" in found[1], found
    found, _ = problems(table.replace("0.88x", "0.91x"), "t.md")
    assert len(found) == 1 and "0.91x is not 43,060 / 48,962" in found[0], found


def test_figures_are_normalised_and_names_are_not_figures():
    got = [value for _, value in figures("P1 ran 1.05x, 43,060 msg/s, 70.2%, 48k, v782, 1b40744, "
                                         "`--rounds 5`, 3.11.7, on 2026-12-01 ([x](../a/b9.md))")]
    assert got == [decimal.Decimal("1.05"), decimal.Decimal("43060"), decimal.Decimal("70.2"),
                   decimal.Decimal("48"), "2026-12-01"]

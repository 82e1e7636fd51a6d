"""The course's exercises: each has a starter, a model answer and checks, and the grader tells them apart.

Each exercise NAME has a starter file (docs/exercises/NAME/starter.py, the
task in its docstring), a model answer (docs/answers/NAME.py, the solution
only) and its checks (docs/checks/NAME.py), run by one command,
`python3 -m docs.grade NAME FILE`.  Here:

* the three sets of files name the same exercises, in the order the
  grader lists them (docs/checks ORDER);
* the grader passes every answer (exit 0, a line `ok: NAME: ...`; exit 77,
  a skip, where this machine lacks what the exercise needs) and fails every
  starter (exit 1, one line `FAIL: ...` per failed check): the checks can
  fail, and a starter is not a solution;
* usage errors exit 2; `--list` lists every exercise with its difficulty
  and time;
* each starter's docstring gives its difficulty, its time and the command
  that grades it; answers use evloop's public API, never the grader's
  helpers;
* each chapter's Exercises section links every exercise of the chapter
  (its starter folder and its answer), with its difficulty, its time and
  the grading command; docs/exercises/README.md and docs/answers/README.md
  list them all.
"""

import os
import re
import subprocess
import sys

import pytest

from docs import checks
from tests.conftest import ROOT
from tests.conftest import cli_env

EXERCISES = checks.exercises()
NAMES = [exercise.name for exercise in EXERCISES]
SKIP = 77  # what the grader exits with when this machine cannot run an exercise
RUN_TIMEOUT = 50


def grade(*args):
    env = cli_env()
    env.pop("COVERAGE_PROCESS_START", None)  # as tests/docs/test_docs.py: they test the docs, not coverage
    try:
        return subprocess.run([sys.executable, "-m", "docs.grade", *args], cwd=ROOT, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"grading {args} ran for more than {RUN_TIMEOUT} s: {exc.stdout!r} {exc.stderr!r}")


def skip_if_skipped(run, what):
    if run.returncode == SKIP:
        reason = [line for line in run.stdout.splitlines() if line.startswith("SKIP:")]
        assert reason, f"{what} exited {SKIP} without a SKIP: line saying why:\n{run.stdout}"
        pytest.skip(reason[-1])


def section(chapter):
    with open(os.path.join(ROOT, "docs", chapter)) as f:
        text = f.read()
    assert "\n## Exercises\n" in text, f"{chapter} has no Exercises section"
    return text.split("\n## Exercises\n", 1)[1]


def test_every_exercise_has_a_starter_an_answer_and_checks():
    assert len(NAMES) >= 20, NAMES
    assert NAMES == checks.ORDER, "docs/checks/__init__.py's ORDER is not the list of check modules"
    folders = sorted(os.listdir(os.path.join(ROOT, "docs", "exercises")))
    assert sorted(name for name in folders if name != "README.md") == sorted(NAMES)
    answers = sorted(name[:-3] for name in os.listdir(os.path.join(ROOT, "docs", "answers"))
                     if name.endswith(".py"))
    assert answers == sorted(NAMES)
    for exercise in EXERCISES:
        assert os.path.isfile(exercise.starter), exercise.starter
        assert exercise.level in (1, 2, 3) and 5 <= exercise.minutes <= 90, exercise
        assert os.path.isfile(os.path.join(ROOT, "docs", exercise.chapter)), exercise.chapter


@pytest.mark.timeout(RUN_TIMEOUT + 10)
@pytest.mark.parametrize("name", NAMES)
def test_the_grader_passes_the_answer(name):
    run = grade(name, os.path.join("docs", "answers", name + ".py"))
    skip_if_skipped(run, f"grading the answer {name}")
    output = f"{run.stdout[-1500:]}\n{run.stderr[-1500:]}"
    assert run.returncode == 0, f"the answer {name} failed its checks:\n{output}"
    assert run.stdout.splitlines()[-1].startswith(f"ok: {name}: "), output


@pytest.mark.timeout(RUN_TIMEOUT + 10)
@pytest.mark.parametrize("name", NAMES)
def test_the_grader_fails_the_starter(name):
    run = grade(name, os.path.join("docs", "exercises", name, "starter.py"))
    skip_if_skipped(run, f"grading the starter {name}")
    output = f"{run.stdout[-1500:]}\n{run.stderr[-1500:]}"
    assert run.returncode == 1, f"the starter of {name} was not failed:\n{output}"
    verdict = [line for line in run.stdout.splitlines() if line.startswith(("FAIL:", "ok:"))]
    assert verdict and all(line.startswith("FAIL: ") and len(line) > 10 for line in verdict), output


def test_the_grader_lists_the_exercises():
    run = grade("--list")
    assert run.returncode == 0, run.stderr
    for exercise in EXERCISES:
        line = next((line for line in run.stdout.splitlines() if line.startswith(exercise.name + " ")),
                    None)
        assert line and exercise.difficulty in line and f"{exercise.minutes} min" in line, \
            (exercise.name, line)


@pytest.mark.parametrize("args", [[], ["01-uppercase-handler"], ["no-such-exercise", __file__],
                                  ["01-uppercase-handler", "no/such/file.py"]],
                         ids=["nothing", "no file", "unknown exercise", "missing file"])
def test_a_usage_error_exits_2(args):
    run = grade(*args)
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.strip(), "a usage error says what was wrong"


def test_a_file_that_does_not_compile_fails_in_one_line(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("def data_received(self, data)\n    return data\n")
    run = grade("01-uppercase-handler", str(broken))
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stdout.splitlines() == ["FAIL: broken.py does not compile: expected ':' (line 1)"]


@pytest.mark.parametrize("name", NAMES)
def test_the_starter_says_the_task_its_difficulty_time_and_grading(name):
    exercise = checks.load(name)
    with open(exercise.starter) as f:
        text = f.read()
    assert text.startswith(f'"""Exercise {name}: '), "the docstring opens with the exercise's name"
    assert f"Difficulty: {exercise.difficulty}.  Time: about {exercise.minutes} minutes." in text
    assert f"python3 -m docs.grade {name} docs/exercises/{name}/starter.py" in text
    assert "Done when" in text, "the starter says when the exercise is done"


@pytest.mark.parametrize("name", NAMES)
def test_the_answer_is_only_the_solution(name):
    with open(os.path.join(ROOT, "docs", "answers", name + ".py")) as f:
        text = f.read()
    assert "_kit" not in text and "docs.checks" not in text, \
        f"{name}: an answer uses evloop's public API, not the grader's helpers"


@pytest.mark.parametrize("name", NAMES)
def test_the_chapter_points_at_the_exercise(name):
    exercise = checks.load(name)
    text = section(exercise.chapter)
    item = next((part for part in re.split(r"\n(?=\d+\. )", text) if f"(exercises/{name}/)" in part),
                None)
    assert item, f"{exercise.chapter}'s Exercises section has no link to exercises/{name}/"
    assert f"[Answer](answers/{name}.py)" in item
    words = " ".join(item.split())
    assert f"{exercise.difficulty.split()[1]}, about {exercise.minutes} minutes" in words, item


def test_the_chapters_list_their_exercises_in_order_and_say_how_to_grade():
    for chapter in sorted({exercise.chapter for exercise in EXERCISES}):
        text = section(chapter)
        assert "python3 -m docs.grade" in text, f"{chapter} does not give the grading command"
        linked = re.findall(r"\(exercises/([\w-]+)/\)", text)
        assert linked == [e.name for e in EXERCISES if e.chapter == chapter], (chapter, linked)


def test_the_readmes_list_every_exercise():
    with open(os.path.join(ROOT, "docs", "exercises", "README.md")) as f:
        exercises_index = f.read()
    with open(os.path.join(ROOT, "docs", "answers", "README.md")) as f:
        answers_index = f.read()
    assert "python3 -m docs.grade" in exercises_index
    for exercise in EXERCISES:
        row = next((line for line in exercises_index.splitlines() if f"({exercise.name}/)" in line), "")
        assert exercise.difficulty.split()[1] in row and f"{exercise.minutes} min" in row, \
            (exercise.name, row)
        assert f"({exercise.name}.py)" in answers_index, exercise.name

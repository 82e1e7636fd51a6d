"""The checks of the course's exercises, one module per exercise.

docs/checks/NAME.py grades exercise NAME: its starter is
docs/exercises/NAME/starter.py, its model answer docs/answers/NAME.py.  A
check module says what the exercise is (TITLE, CHAPTER, LEVEL from 1, easy,
to 3, hard, MINUTES, and MEASUREMENT when the student's figures are judged
by their shape) and grades a student's file with `grade(student)`
(docs/checks/_kit.py).  `python3 -m docs.grade` is the command that runs one.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import types

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.dirname(HERE)
LEVELS = {1: "easy", 2: "medium", 3: "hard"}


@dataclasses.dataclass(frozen=True)
class Exercise:
    name: str
    title: str
    chapter: str  # the chapter's file in docs/, whose Exercises section asks it
    level: int
    minutes: int
    measurement: bool
    checks: types.ModuleType

    @property
    def difficulty(self) -> str:
        return f"{'★' * self.level}{'☆' * (3 - self.level)} {LEVELS[self.level]}"

    @property
    def starter(self) -> str:
        return os.path.join(DOCS, "exercises", self.name, "starter.py")

    @property
    def answer(self) -> str:
        return os.path.join(DOCS, "answers", self.name + ".py")


# The course's order: chapter by chapter, easier before harder, then the appendices.
ORDER = [
    "01-uppercase-handler", "01-fifty-clients",
    "02-max-output", "02-partial-writes",
    "03-select-vs-epoll", "03-fd-setsize",
    "04-count-states", "04-big-reply", "04-pause-reading",
    "05-offload-slow", "05-thread-memory",
    "06-toy-sleep", "06-toy-timeout", "06-toy-cancel", "06-loop-turns",
    "07-proxy-header", "07-reload",
    "08-unix-stale", "08-metrics", "08-tls-greeting",
    "09-backend-down", "09-upper-relay",
    "labs-fixed-sixteen", "labs-chat-nick",
    "appendix-side-by-side",
]


def order(name: str) -> tuple[int, str]:
    """Where NAME stands in ORDER (one not listed yet goes last)."""
    return (ORDER.index(name) if name in ORDER else len(ORDER), name)


def load(name: str) -> Exercise:
    """The exercise NAME; KeyError if there is none."""
    path = os.path.join(HERE, name + ".py")
    if name.startswith("_") or not os.path.isfile(path):
        raise KeyError(name)
    spec = importlib.util.spec_from_file_location(f"docs.checks.{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Exercise(name, module.TITLE, module.CHAPTER, module.LEVEL, module.MINUTES,
                    getattr(module, "MEASUREMENT", False), module)


def names() -> list[str]:
    found = [entry[:-3] for entry in os.listdir(HERE)
             if entry.endswith(".py") and not entry.startswith("_")]
    return sorted(found, key=order)


def exercises() -> list[Exercise]:
    return [load(name) for name in names()]

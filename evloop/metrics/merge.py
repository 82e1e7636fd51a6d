"""One metrics page from many: each worker's figures under a `worker` label.

With `--workers N`, each worker counts its own connections, and the
supervisor serves one page for the whole server, as a Prometheus scrape of
a gunicorn or uvicorn fleet would want: every sample of every worker, with
`worker="i"` (its slot) as its first label, and each family's HELP and TYPE
once.  The text format asks that a family's lines stay together, so the
pages are not concatenated but merged family by family, in the order the
first page gives them.

`merge(pages)` takes each slot's page, or None for a worker that did not
answer in time (stuck, or starting): `evloop_worker_up{worker="i"}` is 1 or
0, as Prometheus's own `up` is for a target.

Reading the totals.  A worker that is replaced starts its counters at zero,
as any restarted process does, under the same `worker` label: for
Prometheus that series was reset, and `rate()` and `increase()` take a
reset in their stride.  So sum rates, never raw counters:
`sum(rate(evloop_connections_accepted_total[5m]))` is the server's rate of
accepts, whatever workers came and went.
"""

from __future__ import annotations

from collections.abc import Mapping

UP = "evloop_worker_up"


class Family:
    """One metric family's lines: its HELP and TYPE, then its samples."""

    __slots__ = ("help", "type", "samples")

    def __init__(self) -> None:
        self.help = ""
        self.type = ""
        self.samples: list[str] = []


def merge(pages: Mapping[int, str | None]) -> str:
    """The pages of workers 0, 1, ... as one page, each sample labelled with its worker."""
    families: dict[str, Family] = {}
    for worker, page in sorted(pages.items()):
        family = None  # the family whose samples follow
        for line in (page or "").splitlines():
            if line.startswith(("# HELP ", "# TYPE ")):
                family = families.setdefault(line[7:].partition(" ")[0], Family())
                if line.startswith("# HELP "):
                    family.help = family.help or line
                else:
                    family.type = family.type or line
            elif line and not line.startswith("#") and family is not None:
                family.samples.append(labelled(line, str(worker)))
    lines = [line for family in families.values()
             for line in (family.help, family.type, *family.samples) if line]
    lines += [f"# HELP {UP} Whether a worker answered this scrape in time (1) or not (0).",
              f"# TYPE {UP} gauge"]
    lines += [f'{UP}{{worker="{worker}"}} {int(page is not None)}'
              for worker, page in sorted(pages.items())]
    return "\n".join(lines) + "\n"


def labelled(sample: str, worker: str) -> str:
    """`name{a="b"} 1` -> `name{worker="0",a="b"} 1`; `name 1` -> `name{worker="0"} 1`."""
    label = f'worker="{worker}"'
    name, brace, rest = sample.partition("{")
    if brace:
        return f"{name}{{{label},{rest}" if not rest.startswith("}") else f"{name}{{{label}{rest}"
    name, space, value = sample.partition(" ")
    return f"{name}{{{label}}}{space}{value}"

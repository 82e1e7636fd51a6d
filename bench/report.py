"""Turn a runner's results into ratios, markdown tables and PNG plots.

The JSON the runner writes is the record; everything here is derived from it
and can be run again on an old file:

    python -m bench.report bench/results/FILE.json [--plots]

Every figure is shown beside its ratio to evloop with epoll measured in the
same run, because absolute numbers from a shared machine drift from hour to
hour while ratios measured side by side hold.  The aio sweep adds its own
comparison: evloop.aio's figures over asyncio's loop's and uvloop's for the
same program, beside the ratio each should reach, and what the asyncio
layer costs over evloop's own handler API on the same echo.
"""

import json
import os
import sys

MiB = 1024 * 1024


def add_ratios(results):
    """Put x_ref (throughput) and cpu_x_ref (CPU per message) on every entry."""
    reference = results["reference"]
    for rows in results["sweeps"].values():
        for row in rows:
            # The run's reference, or where it does not serve the point (TLS), the
            # first evloop model that does: every ratio is to evloop, from the same run.
            name = reference if reference in row["models"] else next(
                (m for m in row["models"] if m.startswith("evloop")), reference)
            ref = row["models"].get(name, {})
            for entry in row["models"].values():
                for key, ratio in (("msgs_per_s", "x_ref"), ("cpu_us_per_msg", "cpu_x_ref")):
                    mine, theirs = entry.get(key), ref.get(key)
                    entry[ratio] = mine / theirs if mine and theirs else None
                idle = row["point"]["idle"]
                if idle and entry.get("peak_rss") and entry.get("base_rss"):
                    entry["rss_per_idle"] = (entry["peak_rss"] - entry["base_rss"]) / idle
                    entry["rss_per_conn"] = ((entry["peak_rss"] - entry["base_rss"])
                                             / (idle + row["point"].get("connections", 0)))


def _num(value, digits=0, suffix=""):
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{suffix}"


def _status(entry):
    status = "ok" if entry["status"] == "ok" else f"{entry['status']}: {entry.get('reason', '')}"
    if entry.get("lost_datagrams"):
        status += f" ({entry['lost_datagrams']:,.0f} datagrams lost and resent)"
    if entry.get("unsettled_rounds"):
        status += (f" ({entry['unsettled_rounds']} of {entry['rounds']} rounds ran while another"
                   f" server was still busy)")
    return status


def _quick_note(results):
    if not results.get("quick"):
        return []
    return ["**A quick run**: one point per workload, one short round each; a glance at "
            "the models, not a measurement (the full run takes the medians of several).", ""]


def _round_rates(entry):
    rates = [r["msgs_per_s"] for r in entry.get("raw") or [] if r.get("msgs_per_s")]
    return (min(rates), max(rates)) if rates else (entry["msgs_per_s"], entry["msgs_per_s"])


def c_reference_rows(results):
    """Where a Python model outran the C reference at a point: one row each, with
    why, from the figures themselves.  The reference at a point is the fastest of
    the C servers there (`c-` models: epoll, io_uring): the limit at that point."""
    found = []
    for rows in results["sweeps"].values():
        for row in rows:
            models = row["models"]
            refs = [(e["msgs_per_s"], n) for n, e in models.items()
                    if n.startswith("c-") and e["status"] == "ok" and e.get("msgs_per_s")]
            if not refs:
                continue
            ref_name = max(refs)[1]
            ref = models[ref_name]
            for name, entry in models.items():
                if (name.startswith("c-") or entry["status"] not in ("ok", "starved")
                        or not entry.get("msgs_per_s") or entry["msgs_per_s"] <= ref["msgs_per_s"]):
                    continue
                found.append({"point": row["label"], "model": name, "rate": entry["msgs_per_s"],
                              "reference": ref_name, "reference_rate": ref["msgs_per_s"],
                              "ratio": entry["msgs_per_s"] / ref["msgs_per_s"],
                              "verdict": _verdict(entry, ref)})
    return found


def _verdict(entry, ref):
    low, _ = _round_rates(entry)
    _, ref_high = _round_rates(ref)
    mine, theirs = entry.get("cpu_us_per_msg"), ref.get("cpu_us_per_msg")
    if low <= ref_high:
        return (f"a tie: within the rounds' spread (its slowest round {low:,.0f}, the C "
                f"server's fastest {ref_high:,.0f})")
    if mine and theirs and mine >= theirs:
        return (f"not a win: more CPU per message ({mine:.1f} us against {theirs:.1f}); a "
                f"ping-pong's rate is set by the round trip through the kernel and the load "
                f"generator, which share the cores")
    return ("suspect: less CPU per message as well; check what its CPU figure leaves out "
            "(other processes, threads) before believing it")


C_HEADER = ["point", "model", "msg/s", "C reference", "its msg/s", "ratio", "what it means"]


def c_reference_table(results):
    """The rows of `c_reference_rows` as one table's cells, the header first."""
    return [C_HEADER] + [[r["point"], r["model"], _num(r["rate"]), r["reference"],
                          _num(r["reference_rate"]), f"{r['ratio']:.2f}x", r["verdict"]]
                         for r in c_reference_rows(results)]


# The aio sweep's comparisons: the same program on three loops (only the loop changes),
# evloop.aio's figure over asyncio's and uvloop's, beside the ratio each should reach.
AIO_TRIOS = [  # (workload, asyncio's, evloop.aio's, uvloop's, target x asyncio, x uvloop)
    ("Protocol echo", "asyncio-protocol", "aio-protocol", "uvloop-protocol", 1.15, 0.95),
    ("streams echo", "asyncio-streams", "aio-streams", "uvloop-streams", 1.15, None),
    ("uvicorn (httptools)", "uvicorn-asyncio", "uvicorn-aio", "uvicorn-uvloop", 1.10, None),
    ("aiohttp", "aiohttp-asyncio", "aiohttp-aio", "aiohttp-uvloop", 1.10, None),
]
# What the asyncio layer costs: evloop.aio's Protocol echo against evloop's own handler API
# on the same echo, in server CPU per message, and the most it should cost.
LAYER = ("aio-protocol", "evloop-epoll", 0.10)
# The floor under the Protocol echo: the same Protocol on a loop with no features
# (bench/aio_floor.py), and the loops set against it.
FLOOR = ("aio-floor", ("aio-protocol", "evloop.aio"), ("uvloop-protocol", "uvloop"),
         ("asyncio-protocol", "asyncio's loop"))


def _measured(results, sweep="aio"):
    """{model: entry} of the sweep's entries that ran (ok or starved), from any of its points."""
    found = {}
    for row in results["sweeps"].get(sweep, []):
        for name, entry in row["models"].items():
            if entry.get("status") in ("ok", "starved") and entry.get("msgs_per_s"):
                found.setdefault(name, entry)
    return found


def _ratio(mine, theirs, key):
    a, b = (mine or {}).get(key), (theirs or {}).get(key)
    return a / b if a and b else None


def _against(ratio, target, rival=""):
    """'1.30x asyncio's loop (target 1.15x: met)': a ratio, whom to, and its target's verdict."""
    if ratio is None:
        return f"n/a{rival}"
    text = f"{ratio:.2f}x{rival}"
    if target is None:
        return text
    return f"{text} (target {target:.2f}x: {'met' if ratio >= target else 'missed'})"


def aio_comparisons(results):
    """[(workload, evloop.aio's entry, asyncio's, uvloop's, x asyncio, x uvloop, targets)]
    for the workloads of the aio sweep that evloop.aio ran."""
    found, rows = _measured(results), []
    for workload, base, aio, uv, want_base, want_uv in AIO_TRIOS:
        if aio not in found:
            continue
        mine, theirs, libuv = found[aio], found.get(base), found.get(uv)
        rows.append((workload, mine, theirs, libuv, _ratio(mine, theirs, "msgs_per_s"),
                     _ratio(mine, libuv, "msgs_per_s"), (want_base, want_uv)))
    return rows


def layer_cost(results):
    """(aio's entry, evloop's entry, extra CPU per message as a share of evloop's), or None."""
    found = _measured(results)
    aio, own, _ = LAYER
    if aio not in found or own not in found or not found[own].get("cpu_us_per_msg"):
        return None
    return found[aio], found[own], found[aio]["cpu_us_per_msg"] / found[own]["cpu_us_per_msg"] - 1


def _layer_line(results):
    cost = layer_cost(results)
    if cost is None:
        return None
    aio, own, extra = cost
    user = _ratio(aio, own, "user_us_per_msg")
    verdict = "met" if extra <= LAYER[2] else "missed"
    return (f"The asyncio layer: {LAYER[0]} spends {aio['cpu_us_per_msg']:.1f} us of server CPU a "
            f"message, {LAYER[1]} (evloop's own handler API, same echo) "
            f"{own['cpu_us_per_msg']:.1f}: {extra:+.1%} (target at most {LAYER[2]:+.0%}: "
            f"{verdict}); user time alone "
            f"{_num(aio.get('user_us_per_msg'), 2)} against {_num(own.get('user_us_per_msg'), 2)}"
            f"{'' if user is None else f' ({user - 1:+.0%})'}.")


def _floor_line(results):
    found = _measured(results)
    floor = found.get(FLOOR[0])
    if floor is None:
        return None
    others = [f"{who} {found[name]['msgs_per_s'] / floor['msgs_per_s']:.2f}x of it "
              f"({_num(found[name].get('cpu_us_per_msg'), 1)} us)"
              for name, who in FLOOR[1:] if name in found]
    return (f"The floor: {FLOOR[0]}, the same Protocol on a loop with no features "
            f"(bench/aio_floor.py), {_num(floor['msgs_per_s'])} msg/s at "
            f"{_num(floor.get('cpu_us_per_msg'), 1)} us of server CPU a message (user "
            f"{_num(floor.get('user_us_per_msg'), 2)}); " + ", ".join(others) + ".")


def aio_narrow(results):
    """The aio sweep's ratios, a line each, for the terminal."""
    lines = []
    for workload, mine, theirs, libuv, x_base, x_uv, (want_base, want_uv) in aio_comparisons(results):
        cpu = ", ".join(f"{who} {_num((entry or {}).get('cpu_us_per_msg'), 1)}"
                        for who, entry in (("aio", mine), ("asyncio", theirs), ("uvloop", libuv)))
        versus = [_against(x_base, want_base, " asyncio's loop"), _against(x_uv, want_uv, " uvloop")]
        lines.append(f"- {workload}: evloop.aio {_num(mine['msgs_per_s'])}/s, "
                     f"{', '.join(versus)}; CPU us/msg {cpu}")
    for line in (_layer_line(results), _floor_line(results)):
        if line:
            lines.append(f"- {line}")
    return ["", "evloop.aio against asyncio's loop and uvloop (the same program, only the loop "
                "changed):"] + lines if lines else []


def aio_markdown(results):
    """The aio sweep's ratios as a table, and the asyncio layer's cost."""
    rows = aio_comparisons(results)
    if not rows:
        return []
    lines = ["", "evloop.aio against asyncio's loop and uvloop: the same program, only the loop "
                 "changed; medians of the same run (for HTTP, a message is a request).", "",
             "| workload | evloop.aio msg/s | asyncio msg/s | uvloop msg/s | aio / asyncio | "
             "aio / uvloop | CPU us/msg aio, asyncio, uvloop | p99 us aio, asyncio, uvloop |",
             "|---|---|---|---|---|---|---|---|"]
    for workload, mine, theirs, libuv, x_base, x_uv, (want_base, want_uv) in rows:
        trio = (mine, theirs or {}, libuv or {})
        lines.append(" | ".join([
            f"| {workload}", *(_num(entry.get("msgs_per_s")) for entry in trio),
            _against(x_base, want_base), _against(x_uv, want_uv),
            ", ".join(_num(entry.get("cpu_us_per_msg"), 1) for entry in trio),
            ", ".join(_num(entry.get("p99_us")) for entry in trio)]) + " |")
    for line in (_layer_line(results), _floor_line(results)):
        if line:
            lines += ["", line]
    return lines


def narrow(results):
    """The table for a terminal: one line per model and point, six columns."""
    header = ["model", "msg/s", "x evloop", "p99 us", "CPU us/msg", "status"]
    lines = _quick_note(results)
    for sweep, rows in results["sweeps"].items():
        for row in rows:
            table = [header]
            for name, entry in row["models"].items():
                ok = entry["status"] in ("ok", "starved")
                table.append([name, _num(entry.get("msgs_per_s")) if ok else "",
                              _num(entry.get("x_ref"), 2, "x") if ok else "",
                              _num(entry.get("p99_us")) if ok else "",
                              _num(entry.get("cpu_us_per_msg"), 1) if ok else "",
                              _status(entry)[:60]])
            widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
            lines += ["", f"{sweep}: {row['label']}"]
            for r in table:
                cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:-1], widths[1:])]
                lines.append("  ".join(cells + [r[-1]]))
    lines += aio_narrow(results)
    table = c_reference_table(results)
    if len(table) > 1:
        widths = [max(len(r[i]) for r in table) for i in range(len(C_HEADER) - 1)]
        lines += ["", "Where a Python model outran the C reference (the faster C server there):"]
        lines += ["  ".join([c.ljust(w) for c, w in zip(r[:-1], widths)] + [r[-1]]) for r in table]
    return "\n".join(lines) + "\n"


def markdown(results):
    facts = results["machine"]
    lines = [
        "# evloop benchmark",
        "",
        f"Machine: {facts['cores']} cores, {facts['implementation']} {facts['python']}, "
        f"Linux {facts['kernel']} ({facts['machine']}); load generator: **{facts['loadgen']}**; "
        f"{facts['date']}.",
        f"Each figure is the median of {results['rounds']} interleaved rounds of "
        f"{results['duration']:g} s; x evloop is the ratio to `{results['reference']}` in the same run "
        f"(or, at a point it does not serve, to the evloop model that does).",
        "",
    ]
    lines += _quick_note(results)
    lines += [f"- {note}" for note in results["notes"]]
    table = c_reference_table(results)
    if len(table) > 1:
        lines += ["", "Where a Python model outran the C reference (the faster C server at that "
                  "point):", "", "| " + " | ".join(C_HEADER) + " |", "|" + "---|" * len(C_HEADER)]
        lines += ["| " + " | ".join(cells) + " |" for cells in table[1:]]
    for sweep, rows in results["sweeps"].items():
        lines += ["", f"## {sweep}", ""]
        idle = sweep == "idle"
        header = ["point", "model", "msg/s", "x evloop", "MB/s", "p50 us", "p99 us", "p99.9 us",
                  "CPU us/msg", "user us/msg", "CPU x evloop", "peak RSS MiB", "threads"]
        if idle:
            header.append("RSS/idle conn")
        massive = sweep == "massive"
        if massive:
            header.append("RSS/conn")
        header.append("status")
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in rows:
            for name, entry in row["models"].items():
                cells = [row["label"], name]
                if entry["status"] in ("ok", "starved"):
                    cells += [_num(entry["msgs_per_s"]), _num(entry["x_ref"], 2, "x"),
                              _num(entry["mb_per_s"], 1), _num(entry["p50_us"]), _num(entry["p99_us"]),
                              _num(entry["p999_us"]), _num(entry["cpu_us_per_msg"], 1),
                              _num(entry.get("user_us_per_msg"), 2),
                              _num(entry["cpu_x_ref"], 2, "x"),
                              _num(entry["peak_rss"] and entry["peak_rss"] / MiB, 1),
                              _num(entry["threads"])]
                    if idle:
                        cells.append(_num(entry.get("rss_per_idle"), 0, " B"))
                    if massive:
                        cells.append(_num(entry.get("rss_per_conn"), 0, " B"))
                else:
                    cells += [""] * (len(header) - 3)
                cells.append(_status(entry))
                lines.append("| " + " | ".join(cells) + " |")
        if sweep == "aio":
            lines += aio_markdown(results)
        colds = [(row["label"], name, entry) for row in rows
                 for name, entry in row["models"].items() if entry.get("cold")]
        if colds:
            lines += ["", "Cold start: a fresh server's first run, before any warm-up.", "",
                      "| point | model | cold msg/s | warm msg/s | cold / warm |", "|---|---|---|---|---|"]
            for label, name, entry in colds:
                cold = entry["cold"].get("msgs_per_s") if entry["cold"].get("status") != "failed" else None
                warm = entry.get("msgs_per_s")
                lines.append(f"| {label} | {name} | {_num(cold)} | {_num(warm)} | "
                             f"{_num(cold / warm if cold and warm else None, 2, 'x')} |")
    return "\n".join(lines) + "\n"


# Colours for up to 16 models, chosen to be told apart side by side (after Kelly's list of
# maximally contrasting colours, less white and black), and a marker each as well.
PALETTE = ["#1f77b4", "#e6194b", "#3cb44b", "#ff7f0e", "#911eb4", "#42d4f4", "#f032e6",
           "#8b6914", "#469990", "#9a6324", "#800000", "#000075", "#808000", "#a9a9a9",
           "#fabed4", "#bfef45"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def _series(rows, name, key, x_key):
    xs, ys = [], []
    for row in rows:
        entry = row["models"].get(name, {})
        if entry.get("status") in ("ok", "starved") and entry.get(key) is not None:
            xs.append(row["point"][x_key])
            ys.append(entry[key])
    return xs, ys


def plots(results, stem):
    """PNG plots beside the JSON (a list of paths); None when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    made = []
    charts = [
        ("connections", "connections", "msgs_per_s", "messages/s", "throughput"),
        ("connections", "connections", "p99_us", "p99 latency (us)", "p99"),
        ("connections", "connections", "cpu_us_per_msg", "server CPU us per message", "cpu"),
        ("connections", "connections", "peak_rss", "peak RSS (bytes)", "rss"),
        ("idle", "idle", "msgs_per_s", "messages/s of 10 busy connections", "idle-throughput"),
        ("idle", "idle", "cpu_us_per_msg", "server CPU us per message", "idle-cpu"),
        ("idle", "idle", "peak_rss", "peak RSS (bytes)", "idle-rss"),
    ]
    for sweep, x_key, key, ylabel, name in charts:
        rows = results["sweeps"].get(sweep)
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(10, 5))
        models = list(dict.fromkeys(m for row in rows for m in row["models"]))
        if len({row["point"][x_key] for row in rows}) == 1:  # one point: bars, not a column
            made.append(_bars(plt, fig, ax, rows, models, (x_key, key), ylabel,
                              f"{stem}-{name}.png"))
            continue
        for index, model in enumerate(models):
            xs, ys = _series(rows, model, key, x_key)
            if xs:
                evloop = model.startswith("evloop")
                ax.plot([max(x, 1) for x in xs], ys, label=model, color=PALETTE[index % len(PALETTE)],
                        marker=MARKERS[index % len(MARKERS)],
                        linewidth=2.5 if evloop else 1.2, linestyle="-" if evloop else "--")
        ax.set_xscale("log")
        if key in ("p99_us", "peak_rss", "cpu_us_per_msg"):
            ax.set_yscale("log")
        ax.set_xlabel(f"{x_key} (log)" if x_key == "connections" else "idle connections (log; 0 drawn at 1)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{sweep}: {ylabel}")
        ax.grid(True, which="both", alpha=0.3)
        # Outside the axes, on the right: over the lines it hid the very points it named.
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        path = f"{stem}-{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        made.append(path)
    return made


def _bars(plt, fig, ax, rows, models, keys, ylabel, path):
    """A sweep of one point drawn as a bar per model, its value written on it: a column
    of markers on a log axis would hide which is which."""
    x_key, key = keys
    named = [(model, _series(rows, model, key, x_key)[1]) for model in models]
    named = [(model, ys[0]) for model, ys in named if ys]
    bars = ax.bar(range(len(named)), [value for _, value in named],
                  color=[PALETTE[models.index(m) % len(PALETTE)] for m, _ in named])
    ax.bar_label(bars, labels=[f"{value:,.0f}" if value >= 10 else f"{value:.2g}"
                               for _, value in named], fontsize="small")
    ax.set_xticks(range(len(named)), [model for model, _ in named], rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{rows[0]['label']}: {ylabel}")
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0].startswith("-"):
        print("usage: python -m bench.report RESULTS.json [--plots]", file=sys.stderr)
        return 2
    try:
        with open(argv[0]) as f:
            results = json.load(f)
    except (OSError, ValueError) as error:
        print(f"bench.report: cannot read {argv[0]}: {error}", file=sys.stderr)
        return 1
    add_ratios(results)
    print(markdown(results), end="")
    if "--plots" in argv:
        made = plots(results, os.path.splitext(argv[0])[0])
        if made is None:
            print("no plots: matplotlib is not installed (pip install '.[bench]')")
        for path in made or []:
            print(f"plot: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Processes: `run()`, and the supervisor that keeps N workers serving.

* `run.run`: serve a handler until SIGINT or SIGTERM, in this process or
  under a supervisor, as `python3 -m evloop.serve` does;
* `supervisor`: the parent of `--workers` processes, which holds the
  listening sockets, replaces a worker that dies and reloads on SIGHUP;
* `workers`: what a worker process does besides serving (it tells its
  parent how it is doing);
* `children`: the workers as the supervisor sees them, and the deadline by
  which one told to go is killed;
* `watchdog`: a worker whose loop is stuck, found, its stack logged, killed;
* `scrape`: one metrics port for the whole server;
* `signals`: what each signal does; `hygiene`: the user, the pid file, and
  a worker's death with its supervisor;
* `systemd`: the notify socket (READY=1, STOPPING=1, STATUS=, WATCHDOG=1).
"""

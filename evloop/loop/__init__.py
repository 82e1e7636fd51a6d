"""The event loop: one thread asks the kernel which descriptors can make progress.

`evloop.loop.base.BaseLoop` is the loop itself: readers and writers on
descriptors, a call_soon queue, timers, signals, and one error path.  Its
parts are modules of their own, each with a small interface:

* `backends`: select, poll and epoll behind one interface (register,
  modify, unregister, poll), as ae.c keeps one file per backend;
* `descriptors`: one record per watched descriptor (its reader, its
  writer, its events), and the one place that tells the backend;
* `timers`: `Timer`, what call_later returns, and the heap of deadlines;
* `waking`: a socket the loop watches, written by another thread or by a
  signal's C-level handler, so the loop wakes at once;
* `errors`: the one error path's logging;
* `instruments`: hooks called at named points of a turn (trio's
  Instruments), through which tracing and metrics watch the loop;
* `offload`: a pool for blocking calls, whose results come back in the loop.

This package knows no connection and no handler: it calls callables.
"""

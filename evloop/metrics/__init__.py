"""What a server counts, and how it shows it.

* `counters`: the running counts a server shares with its connections
  (plain integers in slots: a connection adds its figures when it ends,
  rare events are counted where they happen), the kernel's byte counts
  (TCP_INFO), and the histogram of the loop's turn durations;
* `stats`: `Stats`, one moment's figures as frozen values, what
  `Server.stats()` returns;
* `prometheus`: those figures as Prometheus text, and the sans-IO handler
  that answers a scrape.  The listener that serves it is the server's
  (evloop.server.metrics_endpoint).
"""

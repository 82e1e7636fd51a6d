"""A server: the listeners, accepting, the connections it holds, and its end.

* `server.Server`: one handler class served over TCP (and UDP) on one loop,
  the owner of its connections, stopped in order;
* `sockets` and `listening`: binding, or adopting inherited sockets
  (`--fd`, systemd's), and the file-descriptor limit;
* `accepting`: the accept loop's rules under load;
* `server_context`: work that belongs to the whole server (a handler
  class's `server_started`), `udp`: datagrams, `loading`: handler classes
  by name, `metrics_endpoint`: the `--metrics-port` listener.
"""

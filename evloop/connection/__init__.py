"""One TCP connection, from its connect or accept to its close.

`connection.Connection` moves bytes between a socket and a handler around
one explicit state machine (`states`).  Its parts are held, not inherited:

* `handshakes`: the steps before open (the connect, the PROXY header, the
  TLS handshake), with `dialing` (a non-blocking connect), `addresses`,
  `proxy_protocol` and `tls`;
* `context`: the handler's side, the only object the handler sees, and the
  one error path for handler code, with `handler_timers`;
* `lingering`: the lingering close after our FIN;
* `owner`: what a connection needs from the server or loop it belongs to;
* `starting`: the one way an owner builds, starts and tracks a connection;
* `instruments`: the hooks a connection calls for an installed instrument
  (evloop.trace's view of connections);
* `outbound`: connections opened from here (`context.connect`), and
  `Loop`, the loop with `connect()` that `evloop.Loop` is.
"""

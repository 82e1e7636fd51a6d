"""The command lines, on top of the library: serve, client, scan.

Each turns its arguments into library calls and every error a user can
cause into one line and an exit code, never a traceback.  Nothing in the
library or in bench/ imports this package; `python3 -m evloop.serve`,
`-m evloop.client` and `-m evloop.scan` reach it through three thin
modules kept for those commands, and the console scripts point here.
"""

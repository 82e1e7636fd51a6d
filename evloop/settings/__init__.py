"""A server's settings: one validated `Config`, the bounds it defaults to, the shape of its logs.

`settings.config.Config` holds every setting of a server, checked once when
it is built; `settings.limits` names the bounds that keep one client from
hurting the others, and their defaults; `settings.logs`, how log lines look
(text or JSON) and which worker wrote each.  The command line only turns flags
into a Config (evloop.cli.serve); everything else reads it.
"""

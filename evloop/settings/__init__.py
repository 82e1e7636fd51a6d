"""A server's settings: one validated `Config`, and the bounds it defaults to.

`settings.config.Config` holds every setting of a server, checked once when
it is built; `settings.limits` names the bounds that keep one client from
hurting the others, and their defaults.  The command line only turns flags
into a Config (evloop.cli.serve); everything else reads it.
"""

"""Pictures for teaching: the connection's state machine drawn.

`state_diagram` draws evloop.connection.states as SVG, Graphviz or Mermaid
(`python3 -m evloop.states`), placing the states with `layout`, a small
layered graph layout.  Nothing at run time imports this package.
"""

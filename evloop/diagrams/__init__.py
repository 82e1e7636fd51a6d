"""Pictures for teaching: the state machine and the map of the packages, drawn from the code.

`state_diagram` draws evloop.connection.states as SVG, Graphviz or Mermaid
(`python3 -m evloop.states`), placing the states with `layout`, a small
layered graph layout.  `packages` holds the layers of evloop's packages and
draws their map (docs/05-anatomy.md).  Nothing at run time imports this package.
"""

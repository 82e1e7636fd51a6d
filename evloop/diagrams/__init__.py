"""Pictures for teaching, drawn from the code and from real runs.

`state_diagram` draws evloop.connection.states as SVG, Graphviz or Mermaid
(`python3 -m evloop.states`), placing the states with `layout`, a small
layered graph layout.  `packages` holds the layers of evloop's packages and
draws their map (docs/04-anatomy.md).  The pictures drawn from a run are
Mermaid, each between markers in its chapter (`pages`), redrawn by
`scripts/draw-pictures`: one turn of the loop (`turn`, chapter 4), the
kernel's accept queue and socket buffers measured on loopback (`kernel`,
chapter 1), and a generator's frame and a Task stepping a coroutine
(`coroutines`, chapter 6).  Nothing at run time imports this package.
"""

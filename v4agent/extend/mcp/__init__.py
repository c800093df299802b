"""An MCP client on the official ``mcp`` SDK: servers from the config files and ``.mcp.json``, tools frozen per session.

``config`` reads the server tables (pure), ``transport`` starts a stdio server (in the sandbox when the
repository chose it), ``hub`` holds every connection on one background event loop and answers calls
synchronously, ``tools`` names, renders and formats what the model sees.
"""

"""Integrations with other tools: the pytest plugin (and, later, the IPython magics)."""

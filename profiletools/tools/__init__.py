"""One subpackage per tool. Each declares itself in its ``__init__`` (``TOOL``, see
:mod:`profiletools.core.registry`) and keeps its measurement, payload and record in
modules of its own.
"""

#: The built-in tools: one line per tool package.
BUILTIN = ("timed", "profileit", "lineprofile", "memprofile", "sampleprofile")

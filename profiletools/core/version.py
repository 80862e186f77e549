"""The version of profiletools (read by the build, and by reporters that name the instrumentation)."""

__version__ = "0.1.0"

"""One subpackage per tool: each measures one thing and declares its record type."""

"""Dump files: reading them (:mod:`.dumps`) and converting them to other viewers' formats (:mod:`.convert`)."""

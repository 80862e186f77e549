"""Analyses of recorded runs: :mod:`.compare` tells whether a new run is slower than a base run."""

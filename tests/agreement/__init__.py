"""The agreement suite: profiletools' figures against the raw tools', on real stdlib workloads.

Each tool runs each workload (``workloads.py``: ast parse+unparse, ``json.dump`` with
indent, difflib, email parsing) as a decorator and as a block, and the raw tool runs the
same input in the same process right before it (they cannot hold the profiler hook at
once): cProfile's function set, ncalls and call edges; line_profiler's hits line by line;
tracemalloc's peak and net (1 %, gc off); pyinstrument's hottest three functions. The
dump converters are read back by independent readers (``readers.py``) and compared with
pyprof2calltree and with pstats' own totals. Defects known today are strict xfails that
name the issue item. Run it alone with ``python -m pytest tests/agreement``.
"""

"""The peers' own test suites, ported to profiletools' public API with the peers' expected values.

One module per peer: line_profiler, memory_profiler, profilehooks, codetiming
and pyinstrument. Each test names the peer test it comes from in its
docstring ("Port of <peer> <file>::<test>"). A ported test that fails because
of a known defect stays, with the peer's expected value, marked
``xfail(strict=True)`` and the issue item it waits for; where profiletools
deliberately answers differently, the test asserts the difference and the
tool's page in ``docs/`` says why. ``test_issue13.py`` holds one failing test
per defect of issue 13 that no ported test already shows.
"""

"""Recipe: keep @timed in production code, cheaply.

- every=N measures one call in N (the 1st, N+1-th, ...): the others pay a
  counter check, not a measurement;
- cpu=False skips the thread CPU clock (a system call);
- PROFILETOOLS=0 in the environment switches everything off at import: each
  decorator returns the function itself;
- records go to the log, where the service's log shipping already looks.

Run: python docs/examples/production.py   (and with PROFILETOOLS=0 to compare)
"""

from __future__ import annotations

import logging
import os

import profiletools
from profiletools import reporters, timed

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
profiletools.configure(reporters=[reporters.Log("INFO")])


@timed("orders.total", every=100, cpu=False)
def order_total(prices: list[float]) -> float:
    """Hot code: called for every order."""
    return sum(prices)


if __name__ == "__main__":
    totals = [order_total([1.5, 2.5, float(i)]) for i in range(1_000)]
    assert totals[10] == 14.0
    if os.environ.get("PROFILETOOLS") == "0":
        assert order_total.__class__.__name__ == "function" and not hasattr(order_total, "__wrapped__")
        print("disabled at import: order_total is the undecorated function")
    else:
        print("measured 10 of 1000 calls (see the log lines above)")

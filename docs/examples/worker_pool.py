"""Recipe: profile a worker pool, then merge the workers' dumps into one profile.

Each worker process writes its own .prof files (file names carry the pid and a
sequence number, so they never collide); `profiletools merge` combines them.

Run: python docs/examples/worker_pool.py OUT_DIR
"""

from __future__ import annotations

import glob
import multiprocessing
import os
import subprocess
import sys

from profiletools import profileit, reporters

OUT = sys.argv[1] if len(sys.argv) > 1 else "pool-profiles"


@profileit(reporters=[reporters.Dump(os.path.join(OUT, "workers"))])
def crunch(n: int) -> int:
    """The work each task does: profiled in whichever process runs it."""
    return sum(i * i for i in range(n))


if __name__ == "__main__":
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.map(crunch, [20_000] * 8)
    dumps = sorted(glob.glob(os.path.join(OUT, "workers", "*.prof")))
    assert len(dumps) == 8, dumps
    merged = os.path.join(OUT, "all.prof")
    subprocess.run([sys.executable, "-m", "profiletools", "merge", *dumps, "-o", merged], check=True)
    subprocess.run([sys.executable, "-m", "profiletools", "show", merged, "--limit", "5", "--strip-dirs"], check=True)

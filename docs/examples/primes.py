"""A program to profile without editing it: count primes below a limit.

Run: python docs/examples/primes.py 20000
Profile: profiletools run -t lineprofile docs/examples/primes.py 20000
"""

from __future__ import annotations

import sys


def is_prime(n: int) -> bool:
    """Trial division up to the square root."""
    if n < 2:
        return False
    for divisor in range(2, int(n**0.5) + 1):
        if n % divisor == 0:
            return False
    return True


class Sieve:
    """The same count, the fast way."""

    def __init__(self, limit: int) -> None:
        self.flags = bytearray([1]) * limit

    def count(self) -> int:
        flags = self.flags
        flags[:2] = b"\0\0"
        for n in range(2, int(len(flags) ** 0.5) + 1):
            if flags[n]:
                flags[n * n :: n] = bytes(len(range(n * n, len(flags), n)))
        return sum(flags)


def main() -> None:
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    slow = sum(1 for n in range(limit) if is_prime(n))
    fast = Sieve(limit).count()
    print(f"{slow} primes below {limit} (sieve: {fast})")


if __name__ == "__main__":
    main()

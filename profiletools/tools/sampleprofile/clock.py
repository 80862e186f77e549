"""The clocks that decide when a measured thread's stack is looked at.

A clock ticks every ``interval`` of wall time whatever the code does, and each
tick costs the same: this is what makes ``sampleprofile``'s cost a cost per
sample, not per call. Three clocks:

**The signal clock** (the main thread, on Linux). A POSIX timer
(``timer_create`` on ``CLOCK_MONOTONIC``, through ctypes) sends a real-time
signal to the main thread alone (``SIGEV_THREAD_ID``). CPython runs the
Python-level handler on the main thread at its next instruction boundary and
hands it the interrupted frame; the handler walks that stack. It is the only
clock that samples code holding the GIL every 1 ms. The signal is a spare one
(from ``SIGRTMAX - 1`` down) that neither Python nor the process has a handler
for; ``SIGALRM``, ``alarm()`` and ``setitimer`` stay the program's. The
handler is installed with ``SA_RESTART``, so restartable system calls are not
cut short; others (``sleep``, ``select``) return ``EINTR``, which Python
retries (PEP 475) but C code that does not retry sees.

The timer is armed at a uniformly random phase and then runs free across
calls and coroutine steps: arming a kernel timer costs 10-35 µs in a virtual
machine, most of a 0.2 ms call, and a phase independent of the calls makes a
stream of short calls get samples in proportion to their time. It stops
itself after ``IDLE_TICKS`` ticks with nothing to sample, at the end of a
call that lasted that many ticks, and at exit (a real-time signal arriving
after the interpreter has reset its handlers would kill the process).

**The thread clock** (any other thread, or ``clock="thread"``). A daemon thread
wakes every ``interval``, reads ``sys._current_frames()`` and walks the stacks
of the threads being measured. It needs the GIL to do so: while the measured
thread holds the GIL, the sampler waits up to the switch interval (5 ms by
default, left alone), so the effective interval is coarser and the record
says so. It never interrupts anything.

**The manual clock** (tests; see :mod:`.testing`): ticks when told to, with
time read from a function the test supplies.

Every tick weighs the time since the clock's previous tick, so samples that
come late (a descheduled process, a GIL held by C code) still add up to the
time that passed.
"""

from __future__ import annotations

import _thread
import atexit
import os
import random
import signal
import sys
import threading
import time
from _signal import getsignal as _getsignal  # type: ignore[import-not-found]  # signal.getsignal makes an enum
from _signal import signal as _set_handler  # type: ignore[import-not-found]  # signal.signal is Python code
from collections.abc import Callable
from itertools import repeat, starmap
from types import FrameType

from profiletools.tools.sampleprofile.capture import Measurement, sample

#: Ticks without a running measurement after which a clock stops (the signal clock's timer, the thread's loop).
IDLE_TICKS = 20

_perf = time.perf_counter
_current_frames = sys._current_frames
_get_ident = _thread.get_ident
#: What :meth:`SignalClock.unavailable` says on any thread but the main one.
NOT_MAIN = "not the main thread"
#: What it says once the interpreter has begun to exit (no timer is armed after that).
EXITING = "the interpreter is exiting"
_SIG_DFL = int(signal.SIG_DFL)


class _Main:
    """The main thread's ids (refreshed in a forked child, whose main thread is the one that forked)."""

    __slots__ = ("ident", "native_id")

    def __init__(self) -> None:
        self.ident: int | None = None
        self.native_id = 0
        self.refresh()

    def refresh(self) -> None:
        """Read the main thread's ids (again)."""
        main = threading.main_thread()
        self.ident = main.ident
        self.native_id = main.native_id or 0


MAIN = _Main()


class Clock:
    """What the sampler asks of a clock: start and stop sampling one measurement on its thread."""

    #: The clock's name in records (``"signal"``, ``"thread"``, ``"manual"``).
    name = "clock"
    #: The time function the measurements on this clock are timed with.
    now: Callable[[], float] = staticmethod(_perf)

    def start(self, m: Measurement) -> None:
        """Sample ``m`` from the next tick on."""
        raise NotImplementedError

    def stop(self, m: Measurement) -> None:
        """Stop sampling ``m``."""
        raise NotImplementedError


# -- the signal clock -------------------------------------------------------------------------------------
#
# Nothing below runs Python code of the standard library once ``prepare()`` has run (at
# decoration): a ``profileit`` profile around a sampled call must not see the sampler.

_CLOCK_MONOTONIC = 1
_SIGEV_THREAD_ID = 4
#: Machines whose glibc ``struct sigaction`` starts with the handler (the disposition check reads it there).
_HANDLER_FIRST = ("x86_64", "amd64", "aarch64", "arm64")


class _Libc:
    """What the signal clock needs of the C library, looked up once with ctypes (64-bit Linux only)."""

    def __init__(self) -> None:
        import ctypes

        if not sys.platform.startswith("linux") or ctypes.sizeof(ctypes.c_long) != 8:
            raise OSError("POSIX timers aimed at one thread need 64-bit Linux")
        libc = ctypes.CDLL(None, use_errno=True)
        try:
            create, settime = libc.timer_create, libc.timer_settime
        except AttributeError:  # glibc < 2.34 keeps them in librt
            from ctypes.util import find_library

            rt = ctypes.CDLL(find_library("rt") or "librt.so.1", use_errno=True)
            create, settime = rt.timer_create, rt.timer_settime
        create.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
        self.ctypes = ctypes
        self.timer_create = create
        self.timer_settime = settime
        self.sigaction = libc.sigaction if os.uname().machine.lower() in _HANDLER_FIRST else None
        self.action = ctypes.create_string_buffer(256)  # larger than glibc's struct sigaction (152 bytes)

        class Sigevent(ctypes.Structure):
            """glibc's ``struct sigevent`` on 64-bit Linux (64 bytes; the thread id in its union)."""

            _fields_ = (
                ("sigev_value", ctypes.c_void_p),
                ("sigev_signo", ctypes.c_int),
                ("sigev_notify", ctypes.c_int),
                ("sigev_tid", ctypes.c_int),
                ("_pad", ctypes.c_int * 11),
            )

        self.Sigevent = Sigevent
        self.spec_type = ctypes.c_long * 4  # struct itimerspec: interval s, ns; first expiry s, ns
        #: The real-time signals to choose from, highest first (glibc keeps the lowest ones).
        self.candidates = list(range(int(signal.SIGRTMAX) - 1, int(signal.SIGRTMIN) + 2, -1))

    def default_disposition(self, signum: int) -> bool:
        """Whether the process's handler of ``signum`` is the default (a C library may have set one Python
        does not know of); ``True`` where the check cannot be made."""
        if self.sigaction is None:
            return True
        if self.sigaction(signum, None, self.action) != 0:
            return False
        return self.ctypes.c_void_p.from_buffer(self.action).value is None  # SIG_DFL is 0


_libc: _Libc | None = None
_libc_failure: str | None = None


def prepare() -> str | None:
    """Look up what the signal clock needs in the C library now (once); why it cannot be had, or ``None``."""
    global _libc, _libc_failure
    if _libc is None and _libc_failure is None:
        try:
            _libc = _Libc()
        except (OSError, AttributeError, ImportError) as exc:
            _libc_failure = f"no POSIX timers here ({exc})"
    return _libc_failure


class PosixTimer:
    """A ``CLOCK_MONOTONIC`` POSIX timer that sends ``signum`` to one thread (Linux, 64-bit)."""

    def __init__(self, libc: _Libc, signum: int, thread_id: int) -> None:
        ctypes = libc.ctypes
        event = libc.Sigevent()
        event.sigev_signo = signum
        event.sigev_notify = _SIGEV_THREAD_ID
        event.sigev_tid = thread_id
        self._id = ctypes.c_void_p()
        if libc.timer_create(_CLOCK_MONOTONIC, ctypes.byref(event), ctypes.byref(self._id)) != 0:
            raise OSError(ctypes.get_errno(), "timer_create failed")
        self._settime = libc.timer_settime
        self._spec = libc.spec_type()
        self._spec_ref = ctypes.byref(self._spec)
        self._zero_ref = ctypes.byref(libc.spec_type())

    def arm(self, first: float, every: float) -> None:
        """Expire after ``first`` seconds, then every ``every`` seconds."""
        first_ns = max(int(first * 1e9), 1)
        every_ns = max(int(every * 1e9), 1)
        spec = self._spec
        spec[0], spec[1] = divmod(every_ns, 1_000_000_000)
        spec[2], spec[3] = divmod(first_ns, 1_000_000_000)
        self._settime(self._id, 0, self._spec_ref, None)

    def disarm(self) -> None:
        """Stop expiring."""
        self._settime(self._id, 0, self._zero_ref, None)


def spare_signal(libc: _Libc) -> int:
    """A real-time signal nobody handles (from ``SIGRTMAX - 1`` down), or ``OSError``."""
    for signum in libc.candidates:
        if _getsignal(signum) == _SIG_DFL and libc.default_disposition(signum):
            return signum
    raise OSError("no spare real-time signal: every one has a handler")


class SignalClock(Clock):
    """Samples the main thread from a timer signal's handler (see the module docstring)."""

    name = "signal"

    def __init__(self) -> None:
        self.running: tuple[Measurement, ...] = ()
        self.signum = 0
        self._timer: PosixTimer | None = None
        self._failure: str | None = None
        self._handler = self._on_tick  # one bound method: ``getsignal(n) is self._handler`` must hold
        self._rng = random.Random()
        self.armed = False
        self.interval = 0.0
        self.last_tick = 0.0
        self.idle = 0
        self.ticks = 0
        self._ticks_at_start = 0
        self._busy = False
        #: Set at exit: a timer armed after that could outlive the handler (see :meth:`close`).
        self.closed = False
        #: Ticks lost to an error in the handler (none expected; counted, never raised).
        self.errors = 0

    def unavailable(self) -> str | None:
        """Why this clock cannot sample the calling thread now (``None``: it can)."""
        if _get_ident() != MAIN.ident:
            return NOT_MAIN
        if self.closed:
            return EXITING
        if self._timer is not None:
            if _getsignal(self.signum) is not self._handler:
                return f"the program replaced profiletools' handler of signal {self.signum}"
            return None
        if self._failure is not None:
            return self._failure
        failure = prepare()
        if failure is not None or _libc is None:
            self._failure = failure
            return failure
        try:
            signum = spare_signal(_libc)
            timer = PosixTimer(_libc, signum, MAIN.native_id)
            _set_handler(signum, self._handler)
            signal.siginterrupt(signum, False)  # SA_RESTART: restartable system calls are not cut short
        except (OSError, ValueError) as exc:
            self._failure = f"no timer signal for the main thread ({exc})"
            return self._failure
        self.signum, self._timer = signum, timer
        return None

    def _arm(self, interval: float) -> None:
        assert self._timer is not None
        phase = self._rng.random() * interval  # uniformly random: the ticks are not tied to the calls
        self.last_tick = self.now() + phase - interval
        self.interval = interval
        self.idle = 0
        self._timer.arm(phase, interval)
        self.armed = True

    def close(self) -> None:
        """At exit: stop the timer for good. Interpreter shutdown resets the handlers to the default, and the
        default of a real-time signal is to terminate: a tick after that would kill the process. Sampling
        done later (in an exit handler) uses the sampling thread."""
        self.closed = True
        self.disarm()

    def disarm(self) -> None:
        """Stop the timer (the handler stays: a tick already sent finds nothing to do)."""
        if self.armed:
            self.armed = False
            if self._timer is not None:
                self._timer.disarm()

    def start(self, m: Measurement) -> None:
        """Sample ``m`` (the caller checked :meth:`unavailable`)."""
        if not self.armed or self.interval != m.interval:
            self._arm(m.interval)
        self._ticks_at_start = self.ticks
        m.running = True
        m.since = self.now()
        self.running = (*self.running, m)

    def stop(self, m: Measurement) -> None:
        """Stop sampling ``m``; stop the timer too after a long call (a short one leaves it running a while)."""
        m.running = False
        running = self.running = tuple(other for other in self.running if other is not m)
        if not running and self.ticks - self._ticks_at_start >= IDLE_TICKS:
            self.disarm()

    def _on_tick(self, signum: int, frame: FrameType | None) -> None:
        if self._busy:  # a tick arriving while the previous one is handled: its time goes to the next
            return
        self._busy = True
        try:
            now = _perf()  # (``self.now`` is this clock, a lookup less: a tick runs with cold caches)
            weight = now - self.last_tick
            self.last_tick = now
            self.ticks += 1
            running = self.running
            if not running:
                self.idle += 1
                if self.idle >= IDLE_TICKS:
                    self.disarm()
                return
            self.idle = 0
            for m in running:
                sample(frame, m, weight, now)
        except Exception:  # noqa: BLE001 - never raise into the interrupted code; the tick is lost
            self.errors += 1
        finally:
            self._busy = False

    def reset(self) -> None:
        """In a forked child: no timer was inherited, and the parent's measurements are not the child's."""
        self.running = ()
        self.armed = False
        self._timer = None
        self._busy = False


# -- the thread clock ----------------------------------------------------------------------------------------


def _forget(running: dict[int, tuple[Measurement, ...]], m: Measurement) -> None:
    """Take ``m`` out of ``running`` (measurements per thread ident), and its thread when none is left."""
    left = tuple(other for other in running.get(m.thread, ()) if other is not m)
    if left:
        running[m.thread] = left
    else:
        running.pop(m.thread, None)


class ThreadClock(Clock):
    """Samples any thread from a sampling thread reading ``sys._current_frames()`` (see the module docstring).

    The sampling thread is a bare ``_thread`` thread: it is not in
    ``threading.enumerate()``, the interpreter does not wait for it at exit, and
    starting it runs no Python code of ``threading``. Once started it stays:
    when nothing is measured it parks in C, running no Python code at all. (It
    used to end after a second of that; on 3.12 cProfile sees every thread,
    and the returns of its frames, whose starts cProfile never saw, popped the
    entry of whatever a ``profileit`` was profiling then.)
    """

    name = "thread"

    def __init__(self) -> None:
        #: Per thread ident, the measurements running on it.
        self.running: dict[int, tuple[Measurement, ...]] = {}
        self.interval = 0.001
        self.last_tick = 0.0
        self._alive = False
        #: ``running`` as it is read by the sampling thread (replaced whole, never changed in place).
        self.snapshot: tuple[tuple[int, tuple[Measurement, ...]], ...] = ()
        self._lock = _thread.allocate_lock()
        self._wake = _thread.allocate_lock()  # held while no wake-up is pending
        self._wake.acquire()
        #: Held by the sampling thread while a tick samples (``stop`` waits for it: see :meth:`stop`).
        self._tick = _thread.allocate_lock()
        #: Ticks lost to an error (none expected; counted, never raised).
        self.errors = 0

    def start(self, m: Measurement) -> None:
        """Sample ``m`` from the sampling thread's next tick on (starting that thread if needed)."""
        m.running = True
        m.since = self.now()
        self.interval = min(m.interval, self.interval) if self.running else m.interval
        self.running[m.thread] = (*self.running.get(m.thread, ()), m)
        self.snapshot = tuple(self.running.items())
        with self._lock:
            if not self._alive:
                self.last_tick = self.now()
                try:
                    _thread.start_new_thread(self._run, ())
                except RuntimeError as exc:  # at interpreter shutdown (3.12+): no sampling, the record says why
                    m.fallback = f"no sampling thread ({exc})"
                    return
                self._alive = True
                return
        if self._wake.locked():
            try:
                self._wake.release()
            except RuntimeError:  # another thread woke it first
                pass

    def stop(self, m: Measurement) -> None:
        """Stop sampling ``m``; return once no tick is sampling it.

        A tick in progress when ``m`` stops may have lost the GIL inside
        :func:`sample` (a loaded machine); were the call to end then, the
        sampling thread's return from it could come during a ``profileit`` that
        began meanwhile, and on 3.12+ cProfile, which sees every thread, pops
        that profile's entry for it. So ``stop`` waits for the tick's end, a
        second at most: a sampling thread the interpreter froze at exit while it
        held the lock must not hang the program (such a wait is counted in
        ``errors``).
        """
        m.running = False
        _forget(self.running, m)
        self.snapshot = tuple(self.running.items())
        if self._tick.acquire(timeout=1.0):
            self._tick.release()
        else:
            self.errors += 1

    def _run(self) -> None:
        while self._ticking(self.interval):
            pass

    def _ticking(self, interval: float) -> bool:
        """Tick every ``interval``; ``True`` when the interval changed, ``False`` when the thread ends.

        The loop calls no function from its own bytecode: ``zip`` of ``starmap``s
        sleeps, reads the clock and the frames when the ``for`` asks for its next
        item (C calling C), and parking waits the same way. On 3.12 cProfile
        (``profileit``) sees the calls of every thread, and would list this
        thread's with made-up callers.
        """
        ticks = zip(
            starmap(time.sleep, repeat((interval,))), starmap(self.now, repeat(())),
            starmap(_current_frames, repeat(())), strict=False,
        )
        parked = starmap(self._wake.acquire, repeat(()))
        for _slept, now, frames in ticks:
            snapshot = self.snapshot
            if not snapshot:
                del frames
                for _woken in parked:  # wait for a measurement (``start`` releases the lock)
                    break
                self.last_tick = self.now()  # parked: the first tick counts from now
                continue
            weight = now - self.last_tick
            self.last_tick = now
            with self._tick:
                try:
                    for ident, measurements in self.snapshot:  # read again: ``stop`` may have come in between
                        frame = frames[ident] if ident in frames else None
                        for m in measurements:
                            sample(frame, m, weight, now)
                except Exception:  # noqa: BLE001 - a sampler never raises; the tick is lost
                    self.errors += 1
                finally:
                    del frames  # no frame is held across the GIL release in sleep()
                    frame = None
            if self.interval != interval:
                return True
        return False

    def reset(self) -> None:
        """In a forked child: the sampling thread was not inherited."""
        self.running.clear()
        self.snapshot = ()
        self._alive = False
        self._lock = _thread.allocate_lock()
        self._wake = _thread.allocate_lock()
        self._wake.acquire()
        self._tick = _thread.allocate_lock()


# -- the manual clock (tests) ----------------------------------------------------------------------------------


class ManualClock(Clock):
    """Ticks only when :meth:`tick` is called; each tick weighs the time ``now`` says passed since the last one
    of the measurement (or since it started or resumed)."""

    name = "manual"

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now  # type: ignore[assignment]
        self.running: dict[int, tuple[Measurement, ...]] = {}

    def start(self, m: Measurement) -> None:
        """Sample ``m`` at the next :meth:`tick` on its thread."""
        m.running = True
        m.since = self.now()
        self.running[m.thread] = (*self.running.get(m.thread, ()), m)

    def stop(self, m: Measurement) -> None:
        """Stop sampling ``m``."""
        m.running = False
        _forget(self.running, m)

    def tick(self, frame: FrameType | None) -> None:
        """Sample every measurement running on this thread, with ``frame`` as the running frame."""
        now = self.now()
        for m in self.running.get(threading.get_ident(), ()):
            sample(frame, m, now - m.since, now)
            m.since = now


# -- one of each per process ------------------------------------------------------------------------------------

SIGNAL = SignalClock()
THREAD = ThreadClock()
#: The clock every measurement uses instead, while a test installs one (:mod:`.testing`).
MANUAL: ManualClock | None = None


def _after_fork_in_child() -> None:
    MAIN.refresh()
    SIGNAL.reset()
    THREAD.reset()


atexit.register(SIGNAL.close)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

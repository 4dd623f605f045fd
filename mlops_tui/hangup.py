"""End the console when its terminal goes away (an SSH connection dropped, a tmux server killed).

Why this is not just `loop.add_signal_handler(SIGHUP, app.exit)`: when a terminal hangs up, the
kernel sends the session leader SIGHUP *and* SIGCONT. Textual's Linux driver answers SIGCONT (meant
for `fg` after ctrl+z) by starting application mode again: a new writer thread that dies on the
first write to the dead tty (EIO), after which the app's writes fill that thread's bounded queue and
block the event loop for good, so neither a clean exit nor a timer on that loop ever runs (the
process sleeps forever, polling nothing but holding its connections).

So the guard works without the event loop: Python signal handlers (they run in the main thread even
while it waits on a lock) note the hang-up and keep SIGCONT from reviving the driver, and a daemon
thread asks the app to exit, then ends the process after a short grace whatever the loop is doing.
The same thread notices a terminal that stopped answering without a SIGHUP (the console not being
in the terminal's session).
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

HANGUP_EXIT_CODE = 128 + signal.SIGHUP
GRACE_SECONDS = 1.0
"""How long a clean exit may take after the terminal went away before the process ends hard."""
POLL_SECONDS = 0.25


def terminal_alive(fd: int) -> bool:
    """True while `fd` is a terminal that still answers (a hung-up tty fails every ioctl with EIO)."""
    try:
        os.tcgetpgrp(fd)
    except OSError:
        return False
    return True


class HangupGuard:
    """Watches the terminal on `fd`; when it goes, calls `request_exit` then `os._exit` after the grace."""

    def __init__(self, request_exit: Callable[[int], None], fd: int | None = None,
                 grace: float = GRACE_SECONDS) -> None:
        self.request_exit = request_exit
        self.fd = fd
        self.grace = grace
        self.hung_up = False
        """Set by the SIGHUP handler: a plain assignment, safe anywhere a signal lands."""
        self._previous_sigcont: Any = None

    def install(self) -> None:
        """Install the signal handlers (main thread only) and start the watching thread."""
        signal.signal(signal.SIGHUP, self._on_sighup)
        self._previous_sigcont = signal.getsignal(signal.SIGCONT)
        signal.signal(signal.SIGCONT, self._on_sigcont)
        threading.Thread(target=self._watch, name="mlops-hangup-guard", daemon=True).start()

    def _on_sighup(self, signum: int, frame: FrameType | None) -> None:
        self.hung_up = True

    def _on_sigcont(self, signum: int, frame: FrameType | None) -> None:
        """Pass SIGCONT on (resuming after ctrl+z) only while the terminal is still there."""
        if self.hung_up or (self.fd is not None and not terminal_alive(self.fd)):
            self.hung_up = True
            return
        if callable(self._previous_sigcont):
            self._previous_sigcont(signum, frame)

    def _watch(self) -> None:
        # A signal lands on any thread that does not block it, and a Python handler runs only in the
        # main thread once it wakes: a SIGHUP taken by this thread would leave a main thread blocked
        # on a lock asleep for good. Blocking both here sends them to the main thread (or another).
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP, signal.SIGCONT})
        stop = threading.Event()  # only ever waited on: a sleep that is not a busy loop
        while not self.hung_up:
            if self.fd is not None and not terminal_alive(self.fd):
                self.hung_up = True
                break
            stop.wait(POLL_SECONDS)
        try:
            self.request_exit(HANGUP_EXIT_CODE)
        finally:
            stop.wait(self.grace)
            os._exit(HANGUP_EXIT_CODE)


def guard_terminal(loop: asyncio.AbstractEventLoop, exit_app: Callable[[int], None]) -> HangupGuard | None:
    """Guard the console running on `loop` (from the main thread); None when stdin is not a terminal."""
    stdin = sys.__stdin__
    fd = stdin.fileno() if stdin is not None and stdin.isatty() else None

    def request_exit(code: int) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(exit_app, code)

    guard = HangupGuard(request_exit, fd)
    try:
        guard.install()
    except ValueError:  # not the main thread: nothing can be installed
        return None
    return guard

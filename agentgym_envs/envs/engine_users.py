"""Counting the envs that share one engine process (a JVM, a browser), so that the engine stops
when the last of them is done with it, whether it says so or is garbage collected."""

from __future__ import annotations

import threading
import weakref


class SharedByEnvs:
    """A mixin for an engine that envs share: ``acquire``/``release`` count users, and ``stop()``
    runs when the count drops to zero. The subclass sets ``self._lock`` (an RLock) and
    ``self._users`` (a set) in its ``__init__`` and defines ``stop()``."""

    _lock: threading.RLock
    _users: set[int]
    # Stopping inside the lock keeps "last user gone" and "stop" one step, so a new user cannot
    # start the engine in between; an engine whose stop waits on a thread that takes the lock
    # (the browser's) stops after the lock instead.
    stop_inside_lock = True

    def stop(self) -> None:
        raise NotImplementedError

    def acquire(self, user: object) -> None:
        """Count ``user`` (an env) as using the engine; it is released when ``user`` is garbage
        collected, if it never calls :meth:`release`."""
        key = id(user)
        with self._lock:
            if key not in self._users:
                self._users.add(key)
                weakref.finalize(user, self._release_key, key)

    def release(self, user: object) -> None:
        """``user`` is done; the engine stops when nobody uses it."""
        self._release_key(id(user))

    def _release_key(self, key: int) -> None:
        with self._lock:
            if key not in self._users:
                return
            self._users.discard(key)
            last = not self._users
            if last and self.stop_inside_lock:
                self.stop()
        if last and not self.stop_inside_lock:
            self.stop()

    @property
    def in_use(self) -> bool:
        """True while some env counts as this engine's user."""
        return bool(self._users)

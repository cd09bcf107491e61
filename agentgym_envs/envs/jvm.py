"""The JVM behind the Java engines (ScienceWorld, TextWorld-Express), started and stopped by us.

Both engines ship a jar and a py4j wrapper class whose constructor starts a JVM at once, never
stops it unless ``close()`` is called, and (ScienceWorld) starts a py4j callback server it does
not need. :class:`JavaEngine` replaces that part:

* one JVM per jar per process, started on first use and shared by every env of the process
  that uses the jar (each env drives its own ``PythonInterface`` object in it, so their games
  never mix); a vector of 8 envs costs one JVM, not eight;
* stopped when the last env using it closes (or is garbage collected), at interpreter exit,
  and, through py4j's ``die_on_exit``, by the JVM itself when our process dies without
  cleaning up (it watches its stdin pipe);
* a JVM that died is noticed (:class:`EngineLost`) and the next :meth:`JavaEngine.session`
  starts a fresh one; envs holding objects of the dead JVM see that through
  :meth:`JavaEngine.generation`.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from py4j.java_gateway import GatewayParameters, JavaGateway, launch_gateway
from py4j.protocol import Py4JError, Py4JJavaError, Py4JNetworkError

from agentgym_envs.envs.engine_users import SharedByEnvs

_STOP_WAIT_S = 5.0  # how long a JVM gets to exit after shutdown before it is killed
# What a command sent to an engine may hold: their parsers read printable ASCII words, and py4j
# sends text as UTF-8, which a lone surrogate ("\ud800") cannot be (py4j raises mid-call).
_COMMAND_TEXT = re.compile(r"[\x20-\x7e]+")


def refusal_of(command: str) -> str | None:
    """Why ``command`` must not be sent to a Java engine, or None (model text reaches the
    engine's command channel only through this check)."""
    if _COMMAND_TEXT.fullmatch(command):
        return None
    return "the engine's parser reads printable ASCII words only; this is not a command it knows."


class EngineLost(RuntimeError):
    """The JVM is gone (crashed, killed or stopped): the episode that used it is lost."""


class JavaEngine(SharedByEnvs):
    """A jar's JVM, shared by the envs of this process.

    Args:
        name: what users call the engine ("ScienceWorld"), for messages.
        jar: the jar to run.
        cwd: the JVM's working folder (the engines read data files next to their jar).
        java_options: extra JVM flags.
    """

    def __init__(self, name: str, jar: str, cwd: str, java_options: Sequence[str] = ()):
        self.name = name
        self.jar = jar
        self.cwd = cwd
        self.java_options = list(java_options)
        self._lock = threading.RLock()
        self._gateway: JavaGateway | None = None
        self._process: subprocess.Popen | None = None
        self._users: set[int] = set()
        self._generation = 0  # bumped at every start: objects of an older JVM are dead
        _ENGINES.add(self)

    # ------------------------------------------------------------------ the JVM
    @property
    def generation(self) -> int:
        """Changes whenever a new JVM starts; 0 before the first."""
        return self._generation

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def jvm(self) -> Any:
        """py4j's view of the JVM (``.jvm.package.Class()``), starting it if needed."""
        with self._lock:
            if not self.running:
                self._start()
            return self._gateway.jvm

    def _start(self) -> None:
        self.stop()  # a dead JVM's gateway still holds sockets and threads
        if shutil.which("java") is None:
            raise RuntimeError(
                f"the {self.name} engine runs on Java, and no 'java' is on PATH: install a Java "
                "runtime 8 or newer (for example `apt-get install openjdk-17-jre-headless`)"
            )
        port, process = launch_gateway(
            classpath=self.jar,
            javaopts=self.java_options,
            die_on_exit=True,  # the JVM exits when our process's end of its stdin closes
            cwd=self.cwd,
            return_proc=True,
        )
        self._process = process
        self._gateway = JavaGateway(
            gateway_parameters=GatewayParameters(port=port, auto_field=True, auto_close=True),
            java_process=process,
        )
        self._generation += 1

    def stop(self) -> None:
        """Stop the JVM (harmless when it is not running)."""
        with self._lock:
            gateway, process = self._gateway, self._process
            self._gateway = self._process = None
            if gateway is not None:
                try:
                    gateway.shutdown()
                except Exception:  # noqa: BLE001  (a JVM that is already gone cannot answer)
                    pass
            if process is not None:
                _end_process(process)

    def call(self, function: Callable[[], Any]) -> Any:
        """Run ``function`` (py4j calls). A dead JVM becomes :class:`EngineLost`; a Java
        exception (the engine rejecting its input) reaches the caller as ``Py4JJavaError``."""
        try:
            return function()
        except Py4JJavaError:
            raise
        except (Py4JError, OSError) as error:
            # A broken connection means the JVM is gone (or unusable, which is the same to us).
            # Other py4j errors are ours (a wrong method name) unless the JVM has just died.
            if isinstance(error, (Py4JNetworkError, OSError)) or not self._still_running():
                self.stop()
                raise EngineLost(f"the {self.name} engine (a Java process) stopped") from error
            raise

    def _still_running(self) -> bool:
        process = self._process
        if process is None:
            return False
        try:
            process.wait(timeout=0.2)  # a JVM that was just killed may not be reaped yet
        except subprocess.TimeoutExpired:
            return True
        return False


class EngineHandle:
    """One env's object in a shared JVM (its own game), made again on a fresh JVM when needed.

    Args:
        engine: the shared JVM.
        user: the env; it counts as the JVM's user from the first :meth:`get` to :meth:`drop`.
        make: builds the object from py4j's ``jvm`` view (``jvm.package.Class()``).
    """

    def __init__(self, engine: JavaEngine, user: object, make: Callable[[Any], Any]):
        self.engine = engine
        self._user = weakref.ref(user)
        self._make = make
        self._object: Any = None
        self._generation = -1  # the JVM generation _object lives in

    @property
    def alive(self) -> bool:
        """True while the object's JVM is the running one."""
        engine = self.engine
        return self._object is not None and self._generation == engine.generation and engine.running

    def get(self) -> Any:
        """The object, made now (starting the JVM) if there is none on the running JVM."""
        if not self.alive:
            self.engine.acquire(self._user())
            self._object = self.engine.call(lambda: self._make(self.engine.jvm()))
            self._generation = self.engine.generation
        return self._object

    def call(self, function: Callable[[Any], Any]) -> Any:
        """``function(object)``; :class:`EngineLost` if the JVM it lived in is gone (it is not
        restarted here: the episode on it is lost either way)."""
        if not self.alive:
            raise EngineLost(f"the {self.engine.name} engine stopped")
        return self.engine.call(lambda: function(self._object))

    def drop(self) -> None:
        """Forget the object and stop counting as a user of the JVM."""
        self._object = None
        user = self._user()
        if user is not None:
            self.engine.release(user)


def _end_process(process: subprocess.Popen) -> None:
    """Ask the JVM to exit, then make sure it did. py4j's ``die_on_exit`` JVM exits when its
    stdin closes, so closing it is the polite request."""
    try:
        if process.stdin is not None:
            process.stdin.close()
    except OSError:
        pass
    try:
        process.wait(timeout=_STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


_ENGINES: weakref.WeakSet[JavaEngine] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for engine in list(_ENGINES):
        engine.stop()


def _forget_parents_jvms() -> None:
    """In a forked child (AsyncVectorEnv's workers): the parent's JVMs are the parent's. Stopping
    them from here would end the parent's games, so the child forgets them and starts its own."""
    for engine in list(_ENGINES):
        engine._lock = threading.RLock()
        engine._gateway = engine._process = None
        engine._users = set()
        engine._generation += 1  # the parent's objects are not ours


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parents_jvms)


def java_pids(jar: str) -> list[int]:
    """Ids of running processes whose command line names ``jar`` (for tests and checks)."""
    pids = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                words = handle.read().split(b"\0")
        except OSError:
            continue
        if any(jar.encode() in word for word in words):
            pids.append(int(entry))
    return pids

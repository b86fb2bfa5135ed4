"""Collect workers started by forking a process that has imported TensorFlow once.

Importing TensorFlow and Keras costs every worker about 3 CPU seconds: for most models that
is the largest single part of their collection. When a collection runs several workers,
a fork server imports them once, then forks one child per model. Each model still runs in
a process of its own, as ``python -m reportgen.collect.worker`` would: a crash, a leak or a
hang takes only that model, and the parent's timeout, memory limit and kill apply to the
child (its own process group, its pid and exit status reported to the parent). The server
loads no model and starts no TensorFlow runtime (no session, no eager context, no thread
pool) before it forks: each child starts TensorFlow's runtime itself, as a fresh process
would.

Two sides, one module. The parent (:class:`ForkServer`, which imports no TensorFlow) starts
``python -m reportgen.collect.forkserver FD`` in a session of its own, with a Unix socket
pair between them (``SOCK_SEQPACKET``: one JSON message per request or reply). A request
carries the worker's arguments, environment and working directory, and its log file as a
passed descriptor; the server answers with the child's pid, then with its wait status once
the child ends. The server ends when the parent closes the socket, killing any child left.

A request the server cannot serve as a fresh process would be served (another working
directory, an environment that differs in more than the worker's own temporary folders),
and every request after the server failed, starts ``python -m reportgen.collect.worker``
as before (:func:`start_worker`).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from typing import IO, Any, Protocol

WORKER_MODULE = "reportgen.collect.worker"
PER_WORKER_ENV = frozenset({"KERAS_HOME", "MPLCONFIGDIR"})
"""Variables the parent sets per worker (its own temporary folders); read while Keras and
matplotlib are imported, so the server's own folders serve every child."""
MAX_MESSAGE = 1 << 20
"""Bytes of one message: a request holds the worker's environment."""
READY_TIMEOUT_S = 600.0
"""How long the parent waits for the server to import TensorFlow and fork a child."""
PRELOAD = (
    "keras",
    "reportgen.config",
    "reportgen.collect.source",
    "reportgen.collect.keras_facts",
    "reportgen.collect.graph_run",
    "reportgen.collect.graph_facts",
    "reportgen.collect.profiler",
    "reportgen.collect.tensorboard",
    "xprof.convert.raw_to_tool_data",
)
"""Imported by the server before it forks: TensorFlow and Keras, and what every worker
imports after them. A module that is missing is left to the worker (which says why)."""


class WorkerProcess(Protocol):
    """What the parent needs of a worker: a ``subprocess.Popen`` or a :class:`ForkedWorker`."""

    pid: int
    returncode: int | None

    def wait(self, timeout: float | None = None) -> int: ...

    def poll(self) -> int | None: ...


def popen_worker(argv: list[str], log: IO[bytes], env: dict[str, str]) -> WorkerProcess:
    """``argv`` as a fresh process in a session of its own (the worker and anything it
    starts die together), its output into ``log``."""
    return subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )


def start_worker(
    argv: list[str], log: IO[bytes], env: dict[str, str], server: ForkServer | None
) -> WorkerProcess:
    """The worker ``argv`` names, forked by ``server`` where it can serve it, else started
    as a fresh process."""
    if server is not None:
        forked = server.start(argv, log, env)
        if forked is not None:
            return forked
    return popen_worker(argv, log, env)


# ---------------------------------------------------------------------------------------------
# Parent side (no TensorFlow)


class ForkedWorker:
    """A child of the fork server, as the parent sees it: the ``Popen`` calls it needs."""

    def __init__(self, argv: list[str]) -> None:
        self.args = argv
        self.pid = 0
        self.returncode: int | None = None
        self._started = threading.Event()
        self._ended = threading.Event()

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        assert self.returncode is not None
        return self.returncode

    def poll(self) -> int | None:
        return self.returncode

    def _end(self, returncode: int) -> None:
        self.returncode = returncode
        self._started.set()
        self._ended.set()


class ForkServer:
    """Starts collect workers by forking a server process that imported TensorFlow once.

    Started at the first :meth:`start`; :meth:`close` ends it. Thread-safe: the collect
    pool's threads start workers at the same time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._env: dict[str, str] | None = None
        self._cwd = ""
        self._home: tempfile.TemporaryDirectory[str] | None = None
        self._next_id = 0
        self._waiting: dict[int, ForkedWorker] = {}
        self._by_pid: dict[int, ForkedWorker] = {}
        self._failed = False
        self._closed = False

    def start(self, argv: list[str], log: IO[bytes], env: dict[str, str]) -> ForkedWorker | None:
        """The worker ``argv`` as a forked child; None where a fresh process must run it."""
        if argv[1:3] != ["-m", WORKER_MODULE]:
            return None
        with self._lock:
            if self._failed or self._closed or not self._started(env):
                return None
            if not self._serves(env):
                return None
            worker = ForkedWorker(argv)
            self._next_id += 1
            self._waiting[self._next_id] = worker
            request = {"id": self._next_id, "args": argv[3:], "env": env, "cwd": os.getcwd()}
            try:
                assert self._sock is not None
                socket.send_fds(self._sock, [json.dumps(request).encode()], [log.fileno()])
            except OSError:
                self._waiting.pop(self._next_id)
                self._fail()
                return None
        if not worker._started.wait(READY_TIMEOUT_S):
            with self._lock:  # the server hangs: stop it, and start this worker afresh
                self._fail()
        return worker if worker.pid > 0 else None

    def close(self) -> None:
        """End the server (it kills any child left) and wait for it."""
        with self._lock:
            self._closed = True
            sock, proc = self._sock, self._proc
            self._sock = None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if proc is not None:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._home is not None:
            self._home.cleanup()
            self._home = None

    # -- inside the lock

    def _started(self, env: dict[str, str]) -> bool:
        if self._proc is not None:
            return True
        self._home = tempfile.TemporaryDirectory(prefix="reportgen-forkserver-")
        self._env = dict(env)
        self._env["KERAS_HOME"] = os.path.join(self._home.name, "keras")
        self._env["MPLCONFIGDIR"] = os.path.join(self._home.name, "matplotlib")
        self._cwd = os.getcwd()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", __name__, str(child.fileno())],
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=[child.fileno()],
                start_new_session=True,
            )
        except OSError:
            parent.close()
            self._failed = True
            return False
        finally:
            child.close()
        self._sock = parent
        threading.Thread(target=self._read_replies, args=(parent,), daemon=True).start()
        return True

    def _serves(self, env: dict[str, str]) -> bool:
        """Whether a child forked now starts as a fresh worker with ``env`` would."""
        assert self._env is not None
        if os.getcwd() != self._cwd:
            return False
        keys = (env.keys() | self._env.keys()) - PER_WORKER_ENV
        return all(env.get(key) == self._env.get(key) for key in keys)

    def _fail(self) -> None:
        """Serve no further request. A request not forked yet is started afresh by its
        caller; a child still running is killed (the server is gone or stuck, and no
        one would report its end)."""
        self._failed = True
        for worker in self._waiting.values():
            worker._started.set()  # pid 0: not started
        for pid, worker in self._by_pid.items():
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            worker._end(-signal.SIGKILL)
        self._waiting.clear()
        self._by_pid.clear()
        if not self._closed and self._proc is not None and self._proc.poll() is None:
            self._proc.kill()

    # -- the reply reader (a thread of its own)

    def _read_replies(self, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(MAX_MESSAGE)
            except OSError:
                data = b""
            if not data:
                break
            try:
                reply = json.loads(data)
            except ValueError:
                continue
            with self._lock:
                self._handle(reply)
        with self._lock:  # the server ended: whatever it had not reported will not be
            self._fail()

    def _handle(self, reply: dict[str, Any]) -> None:
        if "id" in reply:
            worker = self._waiting.pop(int(reply["id"]), None)
            if worker is None:
                return
            pid = int(reply.get("pid", 0))
            if pid <= 0:  # the fork failed: a fresh process may still do
                worker._started.set()
                return
            worker.pid = pid
            self._by_pid[pid] = worker
            worker._started.set()
        elif "pid" in reply:
            worker = self._by_pid.pop(int(reply["pid"]), None)
            if worker is not None:
                worker._end(os.waitstatus_to_exitcode(int(reply["status"])))


# ---------------------------------------------------------------------------------------------
# Server side (imports TensorFlow)


def _preload() -> None:
    import importlib

    from reportgen.collect.worker import quiet_tensorflow

    quiet_tensorflow()
    for module in PRELOAD:
        with contextlib.suppress(Exception):
            importlib.import_module(module)


def serve(sock: socket.socket) -> None:
    """Fork a worker per request until the parent closes the socket."""
    _preload()
    # What the imports made is never freed: the children's garbage collections skip it
    # (and so leave its pages shared with the server instead of copying them).
    gc.freeze()
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_write)
    children: set[int] = set()
    try:
        while True:
            readable, _, _ = select.select([sock.fileno(), wake_read], [], [])
            if wake_read in readable:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_read, 4096)
            _reap(sock, children)
            if sock.fileno() in readable:
                message, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 1)
                if not message:
                    break  # the parent closed the socket: the collection is over
                _fork_request(sock, json.loads(message), fds, children, (wake_read, wake_write))
    finally:
        for pid in children:  # only after the parent went away mid-collection
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)


def _reap(sock: socket.socket, children: set[int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        with contextlib.suppress(OSError):
            sock.send(json.dumps({"pid": pid, "status": status}).encode())


def _fork_request(
    sock: socket.socket,
    request: dict[str, Any],
    fds: list[int],
    children: set[int],
    wake: tuple[int, int],
) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork() if fds else -1
    except OSError:
        pid = -1
    if pid == 0:
        try:
            os.setpgid(0, 0)
            _run_child(sock, request, fds[0], wake)
        finally:
            os._exit(70)  # only if the child's own exit failed
    for fd in fds:
        os.close(fd)
    if pid > 0:
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)  # also here: the parent may kill the group at once
        children.add(pid)
    with contextlib.suppress(OSError):
        sock.send(json.dumps({"id": request["id"], "pid": pid}).encode())


def _run_child(
    sock: socket.socket, request: dict[str, Any], log: int, wake: tuple[int, int]
) -> None:
    """The forked child: become the worker ``request`` describes, then exit."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    sock.close()
    for fd in wake:
        os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    from reportgen.collect import worker

    sys.argv = [worker.__file__, *request["args"]]
    try:
        status = worker.main(list(request["args"]))
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        status = 1
    worker.exit_forked(status)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(f"usage: python -m {__name__} FD", file=sys.stderr)
        return 2
    sock = socket.socket(fileno=int(argv[0]))
    try:
        serve(sock)
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

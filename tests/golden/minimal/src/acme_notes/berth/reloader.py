"""Development only (compose.watch.yaml): runs the server, and starts it again inside the same
container when a file of the app's package changes.

    python -I -S <package>/berth/reloader.py <server command>...

The server has no reloader of its own that works here, and restarting the whole container (what
compose watch would do) costs about twice as long: a saved change is served once the server has
started again, about half a second later. A server that fails to start (a syntax error being
typed) is started again at the next saved change; the container stays up meanwhile. SIGTERM and
SIGINT go to the server, and the reloader exits with its status. Standard library only: nothing
of it is in the image's dependencies.
"""

import os
import signal
import subprocess
import sys
import time

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# How often the package's files are compared: stat() of each, cheap for an app's few hundred.
POLL_SECONDS = 0.25
# How long a server may take to stop before it is killed with its workers: it drains its requests
# meanwhile. Shorter for a saved change; a server signalled while it starts may not stop at all.
RESTART_SECONDS = 2.0
STOP_SECONDS = 5.0


def log(message: str) -> None:
    sys.stderr.write(f"reloader: {message}\n")
    sys.stderr.flush()


def snapshot() -> dict[str, tuple[int, int]]:
    """Modification time and size of every file in the package, bytecode caches left out."""
    files = {}
    for directory, subdirectories, names in os.walk(PACKAGE_DIR):
        subdirectories[:] = [name for name in subdirectories if name != "__pycache__"]
        for name in names:
            path = os.path.join(directory, name)
            try:
                status = os.stat(path)
            except FileNotFoundError:  # removed while walking: the next comparison sees it
                continue
            files[path] = (status.st_mtime_ns, status.st_size)
    return files


def changed_file(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> str:
    """One file that was added, changed or removed, relative to the package's parent."""
    path = next(p for p in sorted(before.keys() | after.keys()) if before.get(p) != after.get(p))
    return os.path.relpath(path, os.path.dirname(PACKAGE_DIR))


def start(command: list[str]) -> subprocess.Popen[bytes]:
    # A session of its own: a server that does not stop in time is killed with its workers.
    return subprocess.Popen(command, start_new_session=True)  # noqa: S603 - compose.watch.yaml's command


def stop(server: subprocess.Popen[bytes], signum: int, seconds: float) -> int:
    if server.poll() is None:
        server.send_signal(signum)
        try:
            server.wait(seconds)
        except subprocess.TimeoutExpired:
            log(f"the server did not stop within {seconds:g} s: killed")
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    return server.returncode


def reap_orphans(server: subprocess.Popen[bytes]) -> None:
    """As PID 1, the reloader inherits the workers of a server it killed: collect their exit."""
    while True:
        try:
            exited = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if exited is None or exited.si_pid == server.pid:
            return  # the server's own exit is Popen's to collect
        os.waitpid(exited.si_pid, 0)


def main(command: list[str]) -> int:
    if not command:
        log("usage: python -I -S reloader.py <server command>...")
        return 2
    received: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, _frame: received.append(signum))
    files = snapshot()
    try:
        server = start(command)
    except OSError as error:
        log(f"cannot start {command[0]}: {error}")
        return 127
    reported_exit = False
    while not received:
        time.sleep(POLL_SECONDS)
        reap_orphans(server)
        now = snapshot()
        if now != files:
            log(f"{changed_file(files, now)} changed: starting {command[0]} again")
            stop(server, signal.SIGTERM, RESTART_SECONDS)
            files, server, reported_exit = now, start(command), False
        elif server.poll() is not None and not reported_exit:
            log(
                f"{command[0]} exited with status {server.returncode}: "
                "it starts again when a file changes"
            )
            reported_exit = True
    status = stop(server, received[0], STOP_SECONDS)
    # A server stopped by the signal itself reports -signum: exit as a shell would.
    return 128 - status if status < 0 else status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Development only (compose.watch.yaml): runs a process of the app (the server, the worker) and
starts it again inside the same container when a file of the app's package changes.

    python -I -S <package>/berth/reloader.py [--grace SECONDS] <command>...

Restarting the whole container instead (what compose watch would do) takes about twice as long:
a saved change is served once the server has started again, about half a second later. A
process that fails to start (a syntax error being typed) is started again at the next saved
change; the container stays up meanwhile. SIGTERM and SIGINT go to the process, and the reloader
exits with its status. A process is given --grace seconds to stop (a worker finishing its job),
then killed with its children. Standard library only: nothing of it is in the image's
dependencies.
"""

import os
import shlex
import signal
import subprocess
import sys
import time

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# How often the package's files are compared: stat() of each, cheap for an app's few hundred.
POLL_SECONDS = 0.25
# Without --grace, how long a server may take to stop before it is killed with its workers (it
# drains its requests meanwhile): shorter for a saved change, as a server signalled while it
# starts may not stop at all.
RESTART_SECONDS = 2.0
STOP_SECONDS = 5.0
USAGE = "usage: python -I -S reloader.py [--grace SECONDS] <command>..."


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
    # A session of its own: a process that does not stop in time is killed with its children.
    return subprocess.Popen(command, start_new_session=True)  # noqa: S603 - compose.watch.yaml's command


def stop(process: subprocess.Popen[bytes], shown: str, signum: int, seconds: float) -> int:
    if process.poll() is None:
        process.send_signal(signum)
        try:
            process.wait(seconds)
        except subprocess.TimeoutExpired:
            log(f"{shown} did not stop within {seconds:g} s: killed")
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode


def reap_orphans(process: subprocess.Popen[bytes]) -> None:
    """As PID 1, the reloader inherits the children of a process it killed: collect their exit."""
    while True:
        try:
            exited = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if exited is None or exited.si_pid == process.pid:
            return  # the process's own exit is Popen's to collect
        os.waitpid(exited.si_pid, 0)


def main(arguments: list[str]) -> int:
    restart_seconds, stop_seconds = RESTART_SECONDS, STOP_SECONDS
    if arguments[:1] == ["--grace"]:
        grace = arguments[1] if len(arguments) > 1 else ""
        try:
            restart_seconds = stop_seconds = float(grace)
        except ValueError:
            log(USAGE)
            return 2
        arguments = arguments[2:]
    command = arguments
    if not command:
        log(USAGE)
        return 2
    shown = shlex.join(command)
    received: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, _frame: received.append(signum))
    files = snapshot()
    try:
        process = start(command)
    except OSError as error:
        log(f"cannot start {shown}: {error}")
        return 127
    reported_exit = False
    while not received:
        time.sleep(POLL_SECONDS)
        reap_orphans(process)
        now = snapshot()
        if now != files:
            log(f"{changed_file(files, now)} changed: starting {shown} again")
            stop(process, shown, signal.SIGTERM, restart_seconds)
            files, process, reported_exit = now, start(command), False
        elif process.poll() is not None and not reported_exit:
            log(
                f"{shown} exited with status {process.returncode}: "
                "it starts again when a file changes"
            )
            reported_exit = True
    status = stop(process, shown, received[0], stop_seconds)
    # A process stopped by the signal itself reports -signum: exit as a shell would.
    return 128 - status if status < 0 else status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

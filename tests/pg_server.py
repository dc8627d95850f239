"""A throwaway PostgreSQL server for the database tests: a real server, never a mock.

:func:`start` runs ``initdb`` and ``pg_ctl`` from the PATH or from ``/usr/lib/postgresql/*/bin``
(Debian's ``postgresql`` package, which ``.ci/run`` installs) in a fresh folder under ``/tmp`` on a
free port, with password authentication over TCP and the unix socket inside that folder. PostgreSQL
refuses to run as root, so as root the server runs as the unprivileged user ``nobody`` (through
``runuser``), which owns the folder. :func:`stop` shuts it down and deletes the folder.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

USER = "evalkit"
DATABASE = "postgres"


class Unavailable(RuntimeError):
    """PostgreSQL cannot be started here; the message says why and how to make it possible."""


@dataclass
class Server:
    folder: Path
    port: int
    password: str
    run_as: list
    bin: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{USER}:{self.password}@127.0.0.1:{self.port}/{DATABASE}"


def find_bin() -> Path | None:
    """The folder holding initdb and pg_ctl, or None."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")
             if Path(p).with_name("initdb").exists()]
    # the newest major version: /usr/lib/postgresql/9.6 sorts after 15 as text, not as a number
    found.sort(key=lambda p: [int(x) for x in p.parent.name.split(".") if x.isdigit()])
    return found[-1] if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list, what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise Unavailable(f"{what} failed ({' '.join(map(str, cmd[-6:]))}): "
                          f"{(done.stderr or done.stdout).strip()[-500:]}")


def start() -> Server:
    """Create and start a cluster; raise :class:`Unavailable` when that is not possible here."""
    bin_dir = find_bin()
    if bin_dir is None:
        raise Unavailable("no PostgreSQL server binaries (initdb, pg_ctl) on the PATH or in "
                          "/usr/lib/postgresql/*/bin; install Debian's postgresql package "
                          "(apt-get install postgresql), as .ci/run does")
    run_as: list = []
    if os.geteuid() == 0:   # postgres will not run as root: use an unprivileged account
        if shutil.which("runuser") is None:
            raise Unavailable("running as root without runuser, so PostgreSQL (which refuses root) "
                              "cannot be started as another user; run the tests as a normal user")
        try:
            pwd.getpwnam("nobody")
        except KeyError:
            raise Unavailable("running as root and there is no user 'nobody' to run PostgreSQL as "
                              "(it refuses root); create an unprivileged user or run the tests as "
                              "one") from None
        run_as = ["runuser", "-u", "nobody", "--"]
    # under /tmp, not pytest's 0700 root-owned temp folders, so that `nobody` can reach it; the
    # socket path must also stay under the ~100-character limit of unix sockets (a long TMPDIR)
    folder = Path(tempfile.mkdtemp(prefix="evalkit-pg-", dir="/tmp" if Path("/tmp").is_dir() else None))
    password = secrets.token_hex(12)
    server = Server(folder=folder, port=0, password=password, run_as=run_as, bin=bin_dir)
    try:
        (folder / "pw").write_text(password + "\n")
        if run_as:
            for p in (folder, folder / "pw"):
                shutil.chown(p, user="nobody")
        _run(run_as + [str(bin_dir / "initdb"), "-D", str(folder / "data"), "-U", USER,
                       "--auth=scram-sha-256", f"--pwfile={folder / 'pw'}", "-E", "UTF8",
                       "--locale=C", "--no-sync"], "initdb")
        for _attempt in range(3):   # another process may take the free port first
            server.port = _free_port()
            try:
                _run(run_as + [str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-l",
                               str(folder / "log"), "-w", "-t", "60", "-o",
                               f"-p {server.port} -k {folder} -c listen_addresses=127.0.0.1 -F",
                               "start"], "pg_ctl start")
                return server
            except Unavailable:
                log = folder / "log"
                if "already in use" not in (log.read_text() if log.exists() else ""):
                    raise
        raise Unavailable("no free port for PostgreSQL after 3 attempts")
    except BaseException:
        stop(server)
        raise


def stop(server: Server) -> None:
    """Stop the server (if it runs) and delete its folder."""
    if (server.folder / "data" / "postmaster.pid").exists():
        subprocess.run(server.run_as + [str(server.bin / "pg_ctl"), "-D", str(server.folder / "data"),
                                        "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60)
    shutil.rmtree(server.folder, ignore_errors=True)


def required() -> bool:
    """True in CI (``CI`` or ``EVALKIT_REQUIRE_POSTGRES`` set): no server there is a failure."""
    return any(os.environ.get(v, "") not in ("", "0") for v in ("CI", "EVALKIT_REQUIRE_POSTGRES"))

"""A throwaway PostgreSQL server: Debian's binaries, a temp directory, a free loopback port."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        msg = "PostgreSQL server binaries not found: run scripts/bootstrap --postgres"
        raise RuntimeError(msg)
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TemporaryPostgres:
    """Start with `start()`, stop with `stop()`; everything lives in one temp directory."""

    user = "postgres"
    password = "postgres"  # noqa: S105 - a throwaway local server with trust auth

    def __init__(self) -> None:
        """Pick a directory and a port; nothing runs yet."""
        self.bin = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="tap-supermetrics-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.host = "127.0.0.1"

    def _run(self, *command: str) -> None:
        # initdb refuses to run as root: as root, run the server as the 'postgres' user.
        prefix: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
            prefix = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*prefix, *command], check=True, capture_output=True, text=True)

    def start(self) -> TemporaryPostgres:
        """Create the cluster and start the server on loopback."""
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", self.user,
            "--auth=trust", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses={self.host} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.root / "server.log"), "-w", "start",
        )  # fmt: skip
        return self

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def dsn(self) -> str:
        """A libpq connection string for psycopg."""
        return (
            f"host={self.host} port={self.port} user={self.user} "
            f"password={self.password} dbname=postgres"
        )

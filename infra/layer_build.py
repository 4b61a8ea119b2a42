"""Build the third-party dependency layer for Lambda (arm64, CPython 3.13) without Docker.

pip is told the target platform, so it only picks wheels that already exist for Lambda's
environment; nothing is compiled locally and the host's Python version does not matter.
The result is keyed by a hash of the requirements file and the pip flags, so `cdk synth`
can reuse it offline once `make layer` has run.

Run as `python -m infra.layer_build [--force]`.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from infra.constants import DEPS_LAYER_BUILD_DIR, DEPS_REQUIREMENTS_FILE

PIP_TARGET_FLAGS = (
    "--platform",
    "manylinux2014_aarch64",
    "--implementation",
    "cp",
    "--python-version",
    "3.13",
    "--only-binary=:all:",
)


class LayerBuildError(RuntimeError):
    """The dependency layer is missing and could not be built here."""


def stamp_path(build_dir: Path = DEPS_LAYER_BUILD_DIR) -> Path:
    # Beside the asset rather than inside it, so the stamp never ships in the layer zip.
    return build_dir.with_name(build_dir.name + ".stamp")


def requirements_digest(requirements: Path = DEPS_REQUIREMENTS_FILE) -> str:
    digest = hashlib.sha256(requirements.read_bytes())
    # Changing the target platform must rebuild even when the requirements are unchanged.
    digest.update("\0".join(PIP_TARGET_FLAGS).encode())
    return digest.hexdigest()


def is_current(requirements: Path = DEPS_REQUIREMENTS_FILE, build_dir: Path = DEPS_LAYER_BUILD_DIR) -> bool:
    stamp = stamp_path(build_dir)
    return (
        (build_dir / "python").is_dir()
        and stamp.is_file()
        and stamp.read_text().strip() == requirements_digest(requirements)
    )


def build(
    requirements: Path = DEPS_REQUIREMENTS_FILE,
    build_dir: Path = DEPS_LAYER_BUILD_DIR,
    *,
    force: bool = False,
) -> Path:
    """Install the requirements into `build_dir/python` unless the stamp says they already are."""
    if not force and is_current(requirements, build_dir):
        return build_dir
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    # Install into a scratch directory and swap it in only on success, so an interrupted
    # or offline build never leaves a half-populated layer behind a valid-looking stamp.
    with tempfile.TemporaryDirectory(dir=build_dir.parent, prefix=f".{build_dir.name}-") as scratch:
        staged = Path(scratch) / build_dir.name
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            *PIP_TARGET_FLAGS,
            # Host-compiled .pyc files target the build machine's Python, not Lambda's 3.13.
            "--no-compile",
            "--disable-pip-version-check",
            "--no-input",
            "--target",
            str(staged / "python"),
            "-r",
            str(requirements),
        ]
        # pip's progress goes to stderr: the CDK CLI treats an app's stdout as its own channel.
        result = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr, check=False)
        if result.returncode != 0:
            raise LayerBuildError(
                f"Building the dependency layer from {requirements} failed (pip exit code "
                f"{result.returncode}). It needs PyPI; run `make layer` (python -m infra.layer_build) "
                "once while online, after which `cdk synth` works offline."
            )
        stamp_path(build_dir).unlink(missing_ok=True)
        if build_dir.exists():
            shutil.rmtree(build_dir)
        staged.rename(build_dir)
    stamp_path(build_dir).write_text(requirements_digest(requirements) + "\n")
    return build_dir


def ensure_built() -> Path:
    """Called at synth time: reuse the built layer, or build it once if PyPI is reachable."""
    try:
        return build()
    except OSError as error:
        raise LayerBuildError(
            f"Could not build the dependency layer into {DEPS_LAYER_BUILD_DIR}: {error}. Run `make layer`."
        ) from error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if the stamp matches")
    args = parser.parse_args(argv)
    skipped = not args.force and is_current()
    try:
        path = build(force=args.force)
    except LayerBuildError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"dependency layer {'up to date' if skipped else 'built'}: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

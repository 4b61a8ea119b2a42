"""Build the third-party dependency layers for Lambda (arm64, CPython 3.13) without Docker.

Two of them: the dependencies every function gets (`layers/deps/requirements.txt`), and the Classify function's
own (`layers/encoder/requirements.txt`: numpy, with the sentiment encoder's weights copied beside it).

pip is told the target platform, so it only picks wheels that already exist for Lambda's
environment; nothing is compiled locally and the host's Python version does not matter.
The result is keyed by a hash of the requirements file and the pip flags, so `cdk synth`
can reuse it offline once `make layer` has run.

Bytecode: Lambda mounts layers read-only under /opt, so without `.pyc` files every cold start compiles the
dependencies from source and throws the result away (bench/layer_bytecode_bench.py measures it). Bytecode is
specific to a Python minor version, and the build host's Python is usually not Lambda's, so the layer is
compiled only by an interpreter of the runtime's version (`RESPONDER_LAMBDA_PYTHON`, else `python3.13` on the
PATH or under pyenv), with `--invalidation-mode unchecked-hash`: CDK zips assets with fixed timestamps, which
would make timestamp-checked `.pyc` files look stale, and the layer's sources never change once built. Without
such an interpreter the layer ships source only, and says so.

Run as `python -m infra.layer_build [--force]`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from infra.constants import (
    DEPS_LAYER_BUILD_DIR, DEPS_REQUIREMENTS_FILE, DOMAIN_LAYER_BUILD_DIR, DOMAIN_LAYER_DIR, ENCODER_LAYER_BUILD_DIR,
    ENCODER_LAYER_FOLDER, ENCODER_REQUIREMENTS_FILE, ENCODER_WEIGHTS_FILE,
)

# Lambda's python3.13 runtime is Amazon Linux 2023 (glibc 2.34), so manylinux_2_28 wheels run there too; numpy
# publishes only those for aarch64 since 2.3.
PIP_TARGET_FLAGS = (
    "--platform",
    "manylinux2014_aarch64",
    "--platform",
    "manylinux_2_28_aarch64",
    "--implementation",
    "cp",
    "--python-version",
    "3.13",
    "--only-binary=:all:",
)


# What no function imports at run time: numpy's own test suites and test-only extension modules, C headers, f2py (a
# Fortran build tool), examples, typing stubs, and the subpackages numpy loads only on first use and the sentiment
# encoder never uses (random, fft, polynomial, testing): numpy 2.4.6 for arm64 goes from 55.4 to 40.8 MB unpacked
# (43.6 MB with its bytecode, in Classify's layer). `numpy.random` and the others therefore raise ImportError on
# Lambda: a function that needs them must take them out of this list. tests/infra/test_layer_build.py prunes a copy of
# the development numpy the same way and runs the sentiment encoder on it.
PRUNED_DIRS = ("numpy/f2py", "numpy/_core/include", "numpy/random", "numpy/fft", "numpy/polynomial", "numpy/testing",
               "numpy/_pyinstaller")
PRUNED_DIR_NAMES = ("tests",)
PRUNED_FILES = ("numpy/_core/_simd.*", "numpy/_core/_multiarray_tests.*")
PRUNED_SUFFIXES = (".pyi",)


LAMBDA_PYTHON_VERSION = "3.13"
ENV_LAMBDA_PYTHON = "RESPONDER_LAMBDA_PYTHON"


class LayerBuildError(RuntimeError):
    """The dependency layer is missing and could not be built here."""


def stamp_path(build_dir: Path = DEPS_LAYER_BUILD_DIR) -> Path:
    # Beside the asset rather than inside it, so the stamp never ships in the layer zip.
    return build_dir.with_name(build_dir.name + ".stamp")


def requirements_digest(requirements: Path = DEPS_REQUIREMENTS_FILE, compiled: bool | None = None) -> str:
    digest = hashlib.sha256(requirements.read_bytes())
    # Changing the target platform must rebuild even when the requirements are unchanged.
    digest.update("\0".join(PIP_TARGET_FLAGS).encode())
    digest.update("\0".join(PRUNED_DIRS + PRUNED_DIR_NAMES + PRUNED_FILES + PRUNED_SUFFIXES).encode())
    # So must an interpreter that can compile the layer appearing (or going away).
    if compiled if compiled is not None else find_lambda_python() is not None:
        digest.update(f"\0bytecode-{LAMBDA_PYTHON_VERSION}-unchecked-hash".encode())
    return digest.hexdigest()


def _is_lambda_python(candidate: str) -> bool:
    try:
        done = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return False
    return done.returncode == 0 and done.stdout.strip() == LAMBDA_PYTHON_VERSION


_found: dict[str | None, str | None] = {}


def find_lambda_python() -> str | None:
    """An interpreter of Lambda's Python minor version on this machine, or None (looked up once per process)."""
    explicit = os.environ.get(ENV_LAMBDA_PYTHON)
    if explicit not in _found:
        _found[explicit] = _find_lambda_python(explicit)
    return _found[explicit]


def _find_lambda_python(explicit: str | None) -> str | None:
    if explicit:
        if not _is_lambda_python(explicit):
            raise LayerBuildError(f"{ENV_LAMBDA_PYTHON}={explicit} is not a Python {LAMBDA_PYTHON_VERSION}")
        return explicit
    candidates = [shutil.which(f"python{LAMBDA_PYTHON_VERSION}")]
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates += sorted(str(p) for p in pyenv_root.glob(f"versions/{LAMBDA_PYTHON_VERSION}.*/bin/python"
                                                          f"{LAMBDA_PYTHON_VERSION}"))
    return next((c for c in candidates if c and _is_lambda_python(c)), None)


def compile_layer(python: str, site_dir: Path) -> None:
    """Compile every module under `site_dir` with `python` (Lambda's version), hash-based and unchecked."""
    command = [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(site_dir)]
    # Its listing goes to stderr: the CDK CLI treats an app's stdout as its own channel.
    result = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr, check=False)
    if result.returncode != 0:
        raise LayerBuildError(f"compiling the dependency layer with {python} failed (exit code {result.returncode})")


def prune(site_dir: Path) -> int:
    """Delete what no function imports at run time (see PRUNED_DIRS); returns the bytes removed."""
    doomed = [site_dir / d for d in PRUNED_DIRS if (site_dir / d).is_dir()]
    doomed += [d for d in (site_dir / "numpy").rglob("*") if d.is_dir() and d.name in PRUNED_DIR_NAMES]
    removed = 0
    for directory in sorted(set(doomed), key=lambda d: len(d.parts)):
        if directory.is_dir():  # not already gone with a parent
            removed += sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())
            shutil.rmtree(directory)
    doomed_files = {f for pattern in PRUNED_FILES for f in site_dir.glob(pattern)}
    doomed_files |= {f for f in site_dir.rglob("*") if f.suffix in PRUNED_SUFFIXES and f.is_file()}
    for stub in sorted(doomed_files):
        removed += stub.stat().st_size
        stub.unlink()
    return removed


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
    python = find_lambda_python()
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
            # The host's Python may not be Lambda's: bytecode is made below, by a 3.13 interpreter, or not at all.
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
        prune(staged / "python")
        if python is not None:
            compile_layer(python, staged / "python")
        else:
            print(f"No Python {LAMBDA_PYTHON_VERSION} on this machine (set {ENV_LAMBDA_PYTHON}): the dependency "
                  "layer ships without bytecode, and each cold start compiles it.", file=sys.stderr)
        stamp_path(build_dir).unlink(missing_ok=True)
        if build_dir.exists():
            shutil.rmtree(build_dir)
        staged.rename(build_dir)
    stamp_path(build_dir).write_text(requirements_digest(requirements, compiled=python is not None) + "\n")
    return build_dir


def _source_digest(source: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(source)
        if "__pycache__" in relative.parts or path.suffix == ".pyc":
            continue
        digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


def stage_domain_layer(source: Path = DOMAIN_LAYER_DIR, build_root: Path = DOMAIN_LAYER_BUILD_DIR) -> Path:
    """The domain layer's folder: a copy compiled for Lambda's Python when one is here, else the source itself.

    The copy is keyed by the sources' content, so an unchanged package is compiled once, not at every synth.
    """
    python = find_lambda_python()
    if python is None:
        return source
    staged = build_root / _source_digest(source)
    if staged.is_dir():
        return staged
    build_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=build_root, prefix=".staging-") as scratch:
        copy = Path(scratch) / "layer"
        # The host's own bytecode (a developer's 3.11 __pycache__) is left behind.
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        compile_layer(python, copy)
        for stale in build_root.iterdir():  # earlier versions of the package
            if stale.is_dir() and not stale.name.startswith("."):
                shutil.rmtree(stale)
        try:
            copy.rename(staged)
        except OSError:
            if not staged.is_dir():  # else a concurrent synth staged the same sources first
                raise
    return staged


def ensure_built() -> Path:
    """Called at synth time: reuse the built layer, or build it once if PyPI is reachable."""
    try:
        return build()
    except OSError as error:
        raise LayerBuildError(
            f"Could not build the dependency layer into {DEPS_LAYER_BUILD_DIR}: {error}. Run `make layer`."
        ) from error


def place_encoder_weights(build_dir: Path = ENCODER_LAYER_BUILD_DIR, weights: Path = ENCODER_WEIGHTS_FILE) -> Path:
    """Copy the encoder's weights into the built encoder layer (`<layer>/responder-encoder/`) unless the same bytes
    are already there; without weights in the checkout the layer carries numpy alone and Classify decides with
    the linear model."""
    target = build_dir / ENCODER_LAYER_FOLDER / weights.name
    if not weights.is_file():
        target.unlink(missing_ok=True)
        return build_dir
    if target.is_file() and target.stat().st_size == weights.stat().st_size \
            and target.read_bytes() == weights.read_bytes():
        return build_dir
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(weights, staged)
    staged.replace(target)
    return build_dir


def ensure_encoder_built() -> Path:
    """Called at synth time: the Classify function's layer (numpy and the encoder's weights), built once."""
    try:
        return place_encoder_weights(build(ENCODER_REQUIREMENTS_FILE, ENCODER_LAYER_BUILD_DIR))
    except OSError as error:
        raise LayerBuildError(
            f"Could not build the encoder layer into {ENCODER_LAYER_BUILD_DIR}: {error}. Run `make layer`."
        ) from error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if the stamp matches")
    args = parser.parse_args(argv)
    for name, requirements, build_dir in (("dependency", DEPS_REQUIREMENTS_FILE, DEPS_LAYER_BUILD_DIR),
                                          ("encoder", ENCODER_REQUIREMENTS_FILE, ENCODER_LAYER_BUILD_DIR)):
        skipped = not args.force and is_current(requirements, build_dir)
        try:
            path = build(requirements, build_dir, force=args.force)
            if name == "encoder":
                place_encoder_weights(path)
        except (LayerBuildError, OSError) as error:
            print(error, file=sys.stderr)
            return 1
        print(f"{name} layer {'up to date' if skipped else 'built'}: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

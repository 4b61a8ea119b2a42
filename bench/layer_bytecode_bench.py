"""What shipping the layers with or without bytecode costs a cold start.

Lambda mounts layers read-only under /opt, so a layer without `.pyc` files is compiled from source in every new
container and the result thrown away. This copies the built dependency layer and the domain layer twice, once
stripped of bytecode and once compiled for the runtime's Python with `--invalidation-mode unchecked-hash` (what
`infra.layer_build` ships),
then imports what the functions import in fresh interpreters with PYTHONDONTWRITEBYTECODE=1 (nothing written,
as on /opt), alternating the two copies, and prints the medians and their ratio.

Run: `python -m bench.layer_bytecode_bench [--python python3.13] [--runs 9]` after `make layer`.
It needs an interpreter of the Lambda runtime's minor version (3.13): bytecode is specific to it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from infra.constants import CLASSIFY_CODE_DIR, DEPS_LAYER_BUILD_DIR, DOMAIN_LAYER_DIR, WEBHOOK_CODE_DIR
from infra.layer_build import LAMBDA_PYTHON_VERSION, compile_layer, find_lambda_python

# What the functions import from the layers at cold start (boto3 ships with the runtime, not in a layer): each row
# is a fresh interpreter importing one module with everything it pulls in, so the rows overlap.
IMPORTS: dict[str, tuple[str, Path | None]] = {
    "powertools (Logger)": ("aws_lambda_powertools", None),
    "vaderSentiment": ("vaderSentiment.vaderSentiment", None),
    "webhook handler": ("handler", WEBHOOK_CODE_DIR),
    "classify handler": ("handler", CLASSIFY_CODE_DIR),
}
# Wall and CPU time of the import alone; CPU time is the steadier figure on a shared machine.
_PROBE = ("import os, sys, time, importlib; sys.path[:0] = sys.argv[1].split(os.pathsep); "
          "t, c = time.perf_counter(), time.process_time(); importlib.import_module(sys.argv[2]); "
          "print((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000)")


def _copy_without_bytecode(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def _import_ms(python: str, path: str, module: str) -> tuple[float, float]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([python, "-s", "-c", _PROBE, path, module], env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"importing {module} with {python} failed:\n{done.stderr[-1500:]}")
    wall, cpu = done.stdout.split()
    return float(wall), float(cpu)


def _row(label: str, cold_wall: float, cold_cpu: float, warm_wall: float, warm_cpu: float) -> None:
    print(f"{label:<22}{cold_wall:>8.1f} /{cold_cpu:>6.1f}{warm_wall:>8.1f} /{warm_cpu:>6.1f}"
          f"{cold_cpu - warm_cpu:>13.1f}{cold_cpu / warm_cpu:>12.1f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", help=f"a Python {LAMBDA_PYTHON_VERSION} interpreter (default: found on this "
                                         "machine as infra.layer_build finds it)")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--layer", type=Path, default=DEPS_LAYER_BUILD_DIR / "python")
    args = parser.parse_args(argv)
    python = args.python or find_lambda_python()
    if python is None:
        print(f"no Python {LAMBDA_PYTHON_VERSION} here: bytecode for the Lambda runtime cannot be made or measured",
              file=sys.stderr)
        return 2
    if not args.layer.is_dir():
        print(f"{args.layer} is missing: run `make layer`", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="layer-bench-") as scratch:
        root = Path(scratch)
        paths = {}
        for variant in ("source", "compiled"):
            folders = [_copy_without_bytecode(args.layer, root / variant / "deps"),
                       _copy_without_bytecode(DOMAIN_LAYER_DIR / "python", root / variant / "domain")]
            if variant == "compiled":
                for folder in folders:
                    compile_layer(python, folder)
            paths[variant] = os.pathsep.join(str(folder) for folder in folders)
        source_only, compiled = paths["source"], paths["compiled"]
        print(f"interpreter: {python}; {args.runs} fresh interpreters per cell, medians in ms (wall / CPU)")
        print(f"{'import':<22}{'no .pyc':>16}{'.pyc':>16}{'saved (CPU)':>13}{'ratio (CPU)':>13}")
        for label, (module, code_dir) in IMPORTS.items():
            # The function's own code is the same in both: only the layers differ.
            prefix = f"{code_dir}{os.pathsep}" if code_dir else ""
            cold, warm = [], []
            for _ in range(args.runs):
                cold.append(_import_ms(python, prefix + source_only, module))
                warm.append(_import_ms(python, prefix + compiled, module))
            _row(label, *[statistics.median(run[i] for run in series) for series in (cold, warm) for i in (0, 1)])
    return 0


if __name__ == "__main__":
    sys.exit(main())

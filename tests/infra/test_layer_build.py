"""The Docker-free dependency layer build: stamp keyed by requirements, atomic, clear failure."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra import constants as c
from infra import layer_build
from responder.classification import encoder as encoder_module
from responder.classification.encoder import ENCODER_MODEL, encoder_model


@pytest.fixture(autouse=True)
def no_lambda_python(monkeypatch):
    # Most tests fake pip alone; the ones about bytecode provide an interpreter themselves.
    monkeypatch.setattr(layer_build, "find_lambda_python", lambda: None)


def _fake_pip(returncode: int, calls: list[list[str]]):
    def run(command, **_kwargs):
        calls.append(command)
        if "compileall" in command:
            return subprocess.CompletedProcess(command, 0)
        if returncode == 0:
            target = Path(command[command.index("--target") + 1])
            (target / "fake_pkg").mkdir(parents=True)
            (target / "fake_pkg" / "__init__.py").write_text("")
        return subprocess.CompletedProcess(command, returncode)

    return run


@pytest.fixture
def requirements(tmp_path) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("aws-lambda-powertools==3.37.0\n")
    return path


def test_requirements_pin_powertools_and_leave_out_the_runtime_sdk():
    # Given the layer's requirements file
    lines = [
        line.strip()
        for line in c.DEPS_REQUIREMENTS_FILE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # When its entries are read
    # Then Powertools is pinned and boto3 (shipped by the runtime) is absent
    assert "aws-lambda-powertools==3.37.0" in lines
    assert all("==" in line for line in lines)
    assert not any(line.lower().startswith(("boto3", "botocore")) for line in lines)


def test_build_targets_lambda_arm64_python_313_wheels(requirements, tmp_path, monkeypatch):
    # Given no previous build and a pip that succeeds
    calls: list[list[str]] = []
    monkeypatch.setattr(layer_build.subprocess, "run", _fake_pip(0, calls))
    build_dir = tmp_path / "build" / "deps"
    # When the layer is built
    layer_build.build(requirements, build_dir)
    # Then pip was asked for manylinux2014_aarch64 cp313 binary wheels into <dir>/python, and the stamp matches
    (command,) = calls
    joined = " ".join(command)
    assert "--platform manylinux2014_aarch64" in joined
    assert "--implementation cp" in joined
    assert "--python-version 3.13" in joined
    assert "--only-binary=:all:" in command
    assert (build_dir / "python" / "fake_pkg" / "__init__.py").is_file()
    assert layer_build.is_current(requirements, build_dir)
    assert not (build_dir / "python" / ".stamp").exists()


def test_build_is_skipped_when_the_stamp_matches(requirements, tmp_path, monkeypatch):
    # Given a completed build
    calls: list[list[str]] = []
    monkeypatch.setattr(layer_build.subprocess, "run", _fake_pip(0, calls))
    build_dir = tmp_path / "deps"
    layer_build.build(requirements, build_dir)
    # When it is requested again with unchanged requirements
    layer_build.build(requirements, build_dir)
    # Then pip is not run a second time
    assert len(calls) == 1


def test_changed_requirements_trigger_a_rebuild(requirements, tmp_path, monkeypatch):
    # Given a completed build
    calls: list[list[str]] = []
    monkeypatch.setattr(layer_build.subprocess, "run", _fake_pip(0, calls))
    build_dir = tmp_path / "deps"
    layer_build.build(requirements, build_dir)
    # When the requirements change
    requirements.write_text("aws-lambda-powertools==3.38.0\n")
    # Then the stamp no longer matches and the next build runs pip again
    assert not layer_build.is_current(requirements, build_dir)
    layer_build.build(requirements, build_dir)
    assert len(calls) == 2


def test_failed_build_keeps_the_previous_layer_and_points_to_make_layer(requirements, tmp_path, monkeypatch):
    # Given a completed build followed by changed requirements
    monkeypatch.setattr(layer_build.subprocess, "run", _fake_pip(0, []))
    build_dir = tmp_path / "deps"
    layer_build.build(requirements, build_dir)
    requirements.write_text("aws-lambda-powertools==3.38.0\n")
    # When pip fails (e.g. offline)
    monkeypatch.setattr(layer_build.subprocess, "run", _fake_pip(1, []))
    with pytest.raises(layer_build.LayerBuildError, match="make layer"):
        layer_build.build(requirements, build_dir)
    # Then the old layer is untouched, still marked stale, and no scratch directory is left behind
    assert (build_dir / "python" / "fake_pkg").is_dir()
    assert not layer_build.is_current(requirements, build_dir)
    assert sorted(p.name for p in build_dir.parent.iterdir()) == ["deps", "deps.stamp", "requirements.txt"]


def test_repository_layer_is_built_and_current(synthesized, monkeypatch):
    monkeypatch.undo()  # the real interpreter search: the stamp records whether the layer was compiled
    # Given the session's synthesised app (which ensures the layer)
    # When the real build output is inspected
    # Then it matches the requirements and contains Powertools for the functions to import
    assert layer_build.is_current()
    assert (c.DEPS_LAYER_BUILD_DIR / "python" / "aws_lambda_powertools" / "__init__.py").is_file()


def test_with_a_python_313_the_layer_is_compiled_for_it_hash_based(requirements, tmp_path, monkeypatch):
    # Given a build without bytecode, then a Python 3.13 interpreter on the machine
    calls: list[list[str]] = []
    monkeypatch.setattr(layer_build.subprocess, "run", _fake_pip(0, calls))
    build_dir = tmp_path / "deps"
    layer_build.build(requirements, build_dir)
    monkeypatch.setattr(layer_build, "find_lambda_python", lambda: "/opt/py313/bin/python3.13")
    # When the layer is requested again
    assert not layer_build.is_current(requirements, build_dir)
    layer_build.build(requirements, build_dir)
    # Then it is rebuilt, and compiled by that interpreter with unchecked hash-based .pyc files (fixed zip
    # timestamps would make timestamp-checked ones stale), into the staged folder that becomes the layer
    pip, compile_ = calls[1:]
    assert "pip" in pip and compile_[:3] == ["/opt/py313/bin/python3.13", "-m", "compileall"]
    assert compile_[compile_.index("--invalidation-mode") + 1] == "unchecked-hash"
    assert Path(compile_[-1]).name == "python" and Path(compile_[-1]).parent.name == "deps"
    assert layer_build.is_current(requirements, build_dir)


def test_a_python_of_another_version_is_refused(monkeypatch):
    # Given RESPONDER_LAMBDA_PYTHON naming this (3.11) interpreter
    monkeypatch.undo()
    monkeypatch.setenv(layer_build.ENV_LAMBDA_PYTHON, sys.executable)
    if sys.version_info[:2] == (3, 13):
        pytest.skip("this interpreter is the runtime's version")
    # Then the build refuses it rather than shipping bytecode Lambda's Python would ignore
    with pytest.raises(layer_build.LayerBuildError, match="not a Python 3.13"):
        layer_build.find_lambda_python()


def test_domain_layer_is_staged_compiled_once_per_version_of_its_sources(tmp_path, monkeypatch):
    # Given a domain package holding a developer's host bytecode, and a Python 3.13 on the machine
    source = tmp_path / "responder_layer"
    (source / "python" / "responder" / "__pycache__").mkdir(parents=True)
    (source / "python" / "responder" / "model.py").write_text("X = 1\n")
    (source / "python" / "responder" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"host")
    compiled: list[Path] = []
    monkeypatch.setattr(layer_build, "find_lambda_python", lambda: "/opt/py313/bin/python3.13")
    monkeypatch.setattr(layer_build, "compile_layer", lambda python, folder: compiled.append(folder))
    build_root = tmp_path / "build"
    # When it is staged twice, then again after a change
    first = layer_build.stage_domain_layer(source, build_root)
    again = layer_build.stage_domain_layer(source, build_root)
    (source / "python" / "responder" / "model.py").write_text("X = 2\n")
    changed = layer_build.stage_domain_layer(source, build_root)
    # Then the copy has the sources but not the host's bytecode, is compiled once per version of the sources,
    # and only the current version is kept
    assert first == again != changed and len(compiled) == 2
    assert (changed / "python" / "responder" / "model.py").read_text() == "X = 2\n"
    assert not list(changed.rglob("*.pyc"))
    assert [p.name for p in build_root.iterdir()] == [changed.name]


def test_without_a_python_313_the_domain_layer_is_the_source_folder(tmp_path):
    assert layer_build.stage_domain_layer(tmp_path, tmp_path / "build") == tmp_path


def test_pruning_keeps_numpy_working_for_the_sentiment_encoder(tmp_path):
    if not ENCODER_MODEL.exists():
        pytest.skip("no encoder weights")
    # Given a copy of this environment's numpy (the layer's version, for this machine's platform)
    numpy = pytest.importorskip("numpy")
    site = tmp_path / "python"
    shutil.copytree(Path(numpy.__file__).parent, site / "numpy", ignore=shutil.ignore_patterns("__pycache__"))
    libs = Path(numpy.__file__).parent.with_name("numpy.libs")
    if libs.is_dir():
        shutil.copytree(libs, site / "numpy.libs")
    before = sum(1 for _ in site.rglob("*"))
    # When it is pruned as the layer is
    removed = layer_build.prune(site)
    # Then the test suites, headers, f2py, stubs and the subpackages the encoder never loads are gone
    assert removed > 5_000_000
    for gone in ("f2py", "_core/include", "random", "fft", "polynomial", "testing"):
        assert not (site / "numpy" / gone).exists(), gone
    assert not list(site.glob("numpy/_core/_simd.*"))
    assert not list(site.rglob("tests")) and not list(site.rglob("*.pyi"))
    assert sum(1 for _ in site.rglob("*")) < before
    # And that numpy, alone on the path, still runs the encoder and gives this process's logits
    domain = c.DOMAIN_LAYER_DIR / "python"
    script = (
        "import sys, json; sys.path[:0] = sys.argv[1:3]\n"
        "import numpy; assert numpy.__file__.startswith(sys.argv[1]), numpy.__file__\n"
        "from responder.classification.encoder import encoder_model\n"
        "m = encoder_model(); print(json.dumps([float(x) for x in m.logits('the app is broken again')]))\n"
        "try:\n    import numpy.random\nexcept ImportError:\n    pass\nelse:\n    raise SystemExit('numpy.random kept')\n"
    )
    done = subprocess.run([sys.executable, "-I", "-c", script, str(site), str(domain)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = [float(x) for x in encoder_model().logits("the app is broken again")]
    assert json.loads(done.stdout) == pytest.approx(expected, abs=1e-5)


def _layer_source(synthesized, description_part: str) -> Path:
    (key,) = [r["Properties"]["Content"]["S3Key"] for r in synthesized.resources("AWS::Lambda::LayerVersion").values()
              if description_part in r["Properties"]["Description"]]
    assembly_dir = Path(synthesized.assembly.directory)
    manifest = json.loads((assembly_dir / f"{c.STACK_NAME}.assets.json").read_text())
    return assembly_dir / manifest["files"][key.removesuffix(".zip")]["source"]["path"]


def test_numpy_and_the_encoder_weights_ship_in_classifys_own_layer(synthesized):
    # Given the synthesised app
    layers = synthesized.resources("AWS::Lambda::LayerVersion")
    (encoder_id,) = [lid for lid, r in layers.items() if "sentiment encoder" in r["Properties"]["Description"]]
    functions = synthesized.resources("AWS::Lambda::Function")
    # Then only the Classify function gets the encoder layer
    with_it = [f["Properties"]["Environment"]["Variables"].get("POWERTOOLS_SERVICE_NAME") for f in functions.values()
               if {"Ref": encoder_id} in f["Properties"].get("Layers", [])]
    assert with_it == [c.CLASSIFY_SERVICE_NAME]
    # And the layer holds numpy for Lambda's Python and the weights where the encoder looks for them under /opt
    encoder_source = _layer_source(synthesized, "sentiment encoder")
    assert (encoder_source / "python" / "numpy" / "__init__.py").is_file()
    assert not (encoder_source / "python" / "numpy" / "random").exists()  # pruned
    weights = encoder_source / c.ENCODER_LAYER_FOLDER / "sentiment_encoder.npz"
    assert weights.read_bytes() == c.ENCODER_WEIGHTS_FILE.read_bytes()
    assert Path("/opt") / c.ENCODER_LAYER_FOLDER / weights.name in encoder_module._CANDIDATES
    # And neither numpy nor the weights ride in the layers every function gets (the webhook's among them)
    for shared in ("third-party runtime dependencies", "domain package"):
        source = _layer_source(synthesized, shared)
        assert not (source / "python" / "numpy").exists() and not list(source.rglob("*.npz")), shared
    # And together they stay under the 60 MB the sentiment model may add
    size = sum(f.stat().st_size for f in encoder_source.rglob("*") if f.is_file())
    assert size < 60_000_000, size


def test_the_encoder_layer_gets_the_current_weights(tmp_path):
    # Given a built encoder layer and weights in the checkout
    weights = tmp_path / "sentiment_encoder.npz"
    weights.write_bytes(b"v1")
    built = tmp_path / "built"
    layer_build.place_encoder_weights(built, weights)
    shipped = built / c.ENCODER_LAYER_FOLDER / "sentiment_encoder.npz"
    assert shipped.read_bytes() == b"v1"
    # When the weights change, then the layer follows; when they are gone, so is its copy
    weights.write_bytes(b"v2")
    layer_build.place_encoder_weights(built, weights)
    assert shipped.read_bytes() == b"v2"
    weights.unlink()
    layer_build.place_encoder_weights(built, weights)
    assert not shipped.exists()

"""Lambda layers: third-party dependencies and the domain package, shared by every function, and the Classify
function's own (numpy and the sentiment encoder's weights, 59 MB unpacked that no other function needs)."""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import constants as c
from infra.layer_build import ensure_built, ensure_encoder_built, stage_domain_layer


class SharedLayers(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)

        # Built by pip for the target platform instead of a bundling container: synth needs no Docker.
        deps_dir = ensure_built()
        self.deps = lambda_.LayerVersion(
            self,
            c.DEPS_LAYER_ID,
            # Its bytecode, when present, was compiled for the runtime's Python by infra.layer_build: keep it.
            code=lambda_.Code.from_asset(str(deps_dir)),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_13],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="Responder third-party runtime dependencies (layers/deps/requirements.txt)",
        )
        domain_dir = stage_domain_layer()
        self.domain = lambda_.LayerVersion(
            self,
            c.DOMAIN_LAYER_ID,
            # Compiled for the runtime's Python like the dependencies when this machine has one (infra.layer_build);
            # the source folder itself otherwise, without the host's bytecode.
            code=lambda_.Code.from_asset(str(domain_dir), exclude=[] if domain_dir != c.DOMAIN_LAYER_DIR
                                         else list(c.ASSET_EXCLUDES)),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_13],
            # Pure Python, but declared arm64 so a mismatched function fails at deploy, not at import.
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="Responder domain package (layers/responder)",
        )

        self.encoder = lambda_.LayerVersion(
            self,
            c.ENCODER_LAYER_ID,
            code=lambda_.Code.from_asset(str(ensure_encoder_built())),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_13],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="Responder sentiment encoder: numpy and its weights (layers/encoder), for Classify only",
        )

    @property
    def all(self) -> list[lambda_.ILayerVersion]:
        return [self.deps, self.domain]

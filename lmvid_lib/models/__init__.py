"""Models: pose/appearance factorization (encoders, SPADE and concat decoders) and the patch discriminator."""

from lmvid_lib.models.discriminator import Discriminator
from lmvid_lib.models.factorization import FactorizationModel, ModelConfig, validate_model_config
from lmvid_lib.models.pose import PoseOutput

__all__ = ["Discriminator", "FactorizationModel", "ModelConfig", "PoseOutput", "validate_model_config"]

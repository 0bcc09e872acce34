"""The HRNet backbone: one implementation, every published width and layout (W18-small ... W64)."""
from hrseg.models.backbones.hrnet import HRNet, HRNetSpec, StageSpec, build_hrnet, hrnet_spec, named_spec, named_specs

__all__ = ["HRNet", "HRNetSpec", "StageSpec", "build_hrnet", "hrnet_spec", "named_spec", "named_specs"]

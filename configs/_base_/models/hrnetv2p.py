# HRNetV2p: the backbone + V2p pyramid (256 channels, 5 levels at strides 4..64), the detection neck.
model = dict(name="hrnetv2p_w32", out_channels=256, num_levels=5)

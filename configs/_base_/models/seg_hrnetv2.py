# Segmentation model: HRNetV2 (all streams at stride 4, concatenated) + 1x1 conv, BN, ReLU, 1x1 conv.
# Bilinear fusion upsampling with align_corners=False, as the official W48 configs.
model = dict(name="seg_hrnetv2_w48", num_classes=19, align_corners=False, norm="BN")

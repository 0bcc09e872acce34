# A bare HRNet backbone: stream outputs at strides 4, 8, 16, 32.
model = dict(name="hrnet_w32", norm="BN", upsample="nearest", final_fusion="all")

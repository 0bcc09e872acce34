# Top-down pose model: HRNet V1 + 1x1 conv to 17 heatmaps at stride 4 (the official pose network:
# nearest-neighbour fusion upsampling, the last module fuses the stride-4 stream only).
model = dict(name="pose_hrnet_w32", num_joints=17, upsample="nearest", final_fusion="highest")

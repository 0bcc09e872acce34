# pose_effhrnet_b2 (compound scaling phi = 2 of the W16 base: C 19, 6 blocks per branch, 336x252
# crops, 2.2 GFLOPs) on COCO keypoints with the official HRNet recipe, trained progressively:
# 176x132 -> 256x192 -> 336x252 crops (heatmaps at stride 4, sigma scaled with them) with the
# regularization of EfficientNetV2-S's schedule scaled down for a dense-prediction head.
_base_ = ["../_base_/datasets/coco_keypoints.py", "../_base_/schedules/pose_210e.py"]
model = dict(name="pose_effhrnet_b2", num_joints=17)
data = dict(input_size=[336, 252], heatmap_size=[84, 63], sigma=2.625)  # sigma 2 at 64x48, scaled
progressive = dict(enabled=True, num_stages=3, min_scale=0.5, size_divisor=16,
                   dropout=[0.0, 0.1], randaugment=[5, 15], randaugment_ops=2, mixup=[0.0, 0.2])

# pose_effhrnet_b2 (compound scaling phi = 2 of the W16 base with the family's coefficients alpha 1.0,
# beta 1.1, gamma 1.286: C 19, one module of 4 blocks per branch; registered at 416x312, 2.51 GFLOPs
# there) trained here at 336x252 crops, which is B1's size (1.65 GFLOPs at 336x252), on COCO keypoints
# with the official HRNet recipe, trained progressively: 176x132 -> 256x192 -> 336x252 crops (heatmaps
# at stride 4, sigma scaled with them) with the regularization of EfficientNetV2-S's schedule scaled down
# for a dense-prediction head. (C 19, 6 blocks, 336x252, 2.2 GFLOPs would be phi = 2 with EfficientNet's
# own coefficients 1.2, 1.1, 1.15, which the family does not use.)
_base_ = ["../_base_/datasets/coco_keypoints.py", "../_base_/schedules/pose_210e.py"]
model = dict(name="pose_effhrnet_b2", num_joints=17)
data = dict(input_size=[336, 252], heatmap_size=[84, 63], sigma=2.625)  # sigma 2 at 64x48, scaled
progressive = dict(enabled=True, num_stages=3, min_scale=0.5, size_divisor=16,
                   dropout=[0.0, 0.1], randaugment=[5, 15], randaugment_ops=2, mixup=[0.0, 0.2])

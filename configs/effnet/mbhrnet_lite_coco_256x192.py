# The light MBConv + SE network (pose_mbhrnet_lite: 1.25M params, 0.29 GFLOPs at 256x192) on COCO
# keypoints with the official HRNet recipe (Adam 1e-3, 210 epochs), trained progressively:
# 128x96 -> 192x144 -> 256x192 crops, with dropout before the head, RandAugment and heatmap Mixup
# growing alongside (EfficientNetV2's adaptive regularization; the light model gets the weak end).
_base_ = ["../_base_/datasets/coco_keypoints.py", "../_base_/schedules/pose_210e.py"]
model = dict(name="pose_mbhrnet_lite", num_joints=17)
data = dict(input_size=[256, 192], heatmap_size=[64, 48], sigma=2.0)
progressive = dict(enabled=True, num_stages=3, min_scale=0.5, size_divisor=16,
                   dropout=[0.0, 0.05], drop_path=[0.0, 0.05], randaugment=[0, 5], randaugment_ops=2,
                   mixup=[0.0, 0.1])

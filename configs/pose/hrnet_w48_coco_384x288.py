# The official HRNet-W48 COCO keypoint recipe at 384x288 (experiments/coco/hrnet/w48_384x288_adam_lr1e-3.yaml).
_base_ = ["../models/pose_hrnet_w48.py", "../_base_/datasets/coco_keypoints.py", "../_base_/schedules/pose_210e.py"]
data = dict(input_size=[384, 288], heatmap_size=[96, 72], sigma=3.0, batch_size=24, val_batch_size=24)
# 24 images per GPU on 4 GPUs: the lr 1e-3 is for a total batch of 96 (scaled linearly otherwise).
optimizer = dict(reference_batch=96)
# The official YAML starts from the ImageNet backbone models/pytorch/imagenet/hrnet_w48-8ef0771d.pth (hrseg.weights).
model = dict(pretrained="hrnet_w48.msra_imagenet_pose")

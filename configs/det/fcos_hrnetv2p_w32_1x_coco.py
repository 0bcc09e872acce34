# FCOS HRNetV2p-W32 with a GroupNorm head, COCO 1x (mmdetection fcos_hrnetv2p_w32_gn-head_4x4_1x):
# 4 GPUs x 4 images, SGD lr 0.01, no gradient clipping. Differences: the official warmup is a
# constant lr/3 for 500 iterations (here linear from lr/3) and biases train at 2x lr without
# weight decay (here like the weights).
_base_ = ["../models/det_fcos_hrnetv2p_w32.py", "../_base_/datasets/coco_instances.py",
          "../_base_/schedules/det_1x.py"]
model = dict(norm_eval=True)
load_from = "checkpoints/hrnetv2_w32_imagenet_pretrained.pth"
data = dict(batch_size=4)
optimizer = dict(lr=0.01)
train = dict(grad_clip=None)

# FCOS HRNetV2p-W32 with a GroupNorm head, COCO 1x (mmdetection fcos_hrnetv2p_w32_gn-head_4x4_1x):
# 4 GPUs x 4 images, SGD lr 0.01 (for that total batch of 16), gradient norm clipped at 35
# (fcos_r50_caffe_fpn_gn-head_1x_coco.py optimizer_config), biases (outside the GroupNorms) at 2x lr
# without weight decay (its paramwise_cfg), a constant lr/3 for the first 500 iterations; mmdetection's
# FCOSHead, its targets and losses (no centre sampling, IoU loss weighted by centerness, centerness on the
# classification tower: hrseg.models.fcos_mmdet). Every field against the official one: docs/recipes.md.
_base_ = ["../models/det_fcos_hrnetv2p_w32.py", "../_base_/datasets/coco_instances.py",
          "../_base_/schedules/det_1x.py"]
model = dict(norm_eval=True, head_type="mmdetection")
load_from = "checkpoints/hrnetv2_w32_imagenet_pretrained.pth"
data = dict(batch_size=4)
optimizer = dict(lr=0.01, reference_batch=16, bias_lr_mult=2.0, bias_decay_mult=0.0)
schedule = dict(warmup="constant")

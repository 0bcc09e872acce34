# Faster R-CNN HRNetV2p-W32, COCO 1x (HRNet/HRNet-Object-Detection faster_rcnn_hrnetv2p_w32_1x).
# The backbone starts from the ImageNet weights (hrnetv2_w32_imagenet_pretrained.pth of
# HRNet/HRNet-Image-Classification, put under checkpoints/), its BatchNorm statistics frozen.
_base_ = ["../models/det_fasterrcnn_hrnetv2p_w32.py", "../_base_/datasets/coco_instances.py",
          "../_base_/schedules/det_1x.py"]
model = dict(norm_eval=True, box_loss_beta=1.0)  # the official RoI box loss: smooth L1 at beta 1.0
load_from = "checkpoints/hrnetv2_w32_imagenet_pretrained.pth"
# lr 0.02 for 16 images per step (8 GPUs x 2; HRNet-Object-Detection: "if you use 8 GPUs for training,
# please change lr to 0.02"), scaled linearly for other total batches.
optimizer = dict(reference_batch=16)

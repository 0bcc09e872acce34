# Mask R-CNN HRNetV2p-W32, COCO 1x (mmdetection configs/hrnet/mask_rcnn_hrnetv2p_w32_1x_coco.py):
# the Faster R-CNN W32 1x recipe (SGD lr 0.02 for 16 images, x0.1 at epochs 8 and 11 of 12, 500
# warmup iterations, flip, 800 x <= 1333) with COCO's instance masks (polygons; crowd regions are
# left out of training and ignored by the evaluation). tools/test_det.py reports box and mask AP.
# Published: box AP 41.2, mask AP 37.1 (mmdetection's W32 1x file).
# The backbone starts from the ImageNet weights (hrnetv2_w32_imagenet_pretrained.pth of
# HRNet/HRNet-Image-Classification, put under checkpoints/), its BatchNorm statistics frozen.
_base_ = ["../models/det_maskrcnn_hrnetv2p_w32.py", "../_base_/datasets/coco_instances.py",
          "../_base_/schedules/det_1x.py"]
model = dict(norm_eval=True, box_loss_beta=1.0)  # the official RoI box loss: smooth L1 at beta 1.0
load_from = "checkpoints/hrnetv2_w32_imagenet_pretrained.pth"

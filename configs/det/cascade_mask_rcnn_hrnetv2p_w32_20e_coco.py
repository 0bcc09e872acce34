# Cascade Mask R-CNN HRNetV2p-W32, COCO 20e (mmdetection 2.x configs/hrnet/cascade_mask_rcnn_hrnetv2p_w32_20e_coco.py
# and its bases: _base_/models/cascade_mask_rcnn_r50_fpn.py, schedule_1x.py, coco_instance.py): the HRNetV2p
# pyramid, Faster R-CNN's RPN, three box stages matched at IoU 0.5 / 0.6 / 0.7 (weights 1 / 0.5 / 0.25, smooth
# L1 at beta 1.0) with a mask head each (hrseg.models.cascade_rcnn), mmdetection 2.x's anchors and RoIAlign;
# SGD lr 0.02 for 16 images, linear warmup from lr / 1000 over 500 iterations, x0.1 at epochs 16 and 19 of 20,
# no gradient clipping, flip, 800 x <= 1333. Published: box AP 44.3, mask AP 38.6
# (det_cascademaskrcnn_hrnetv2p_w32.mmdet_coco_20e). Every field against mmdetection's: docs/recipes.md.
# The backbone starts from the ImageNet weights, its BatchNorm statistics frozen.
_base_ = ["../_base_/datasets/coco_instances.py", "../_base_/schedules/det_1x.py"]
model = dict(name="det_cascademaskrcnn_hrnetv2p_w32", num_classes=81, min_size=800, max_size=1333,
             out_channels=256, anchor_scale=8, aspect_ratios=[0.5, 1.0, 2.0], representation_size=1024,
             norm_eval=True, rpn_pre_nms_top_n_test=1000, rpn_post_nms_top_n_test=1000, rpn_nms_thresh=0.7,
             box_score_thresh=0.05, box_nms_thresh=0.5, box_detections_per_img=100, box_batch_size_per_image=512,
             box_positive_fraction=0.25, box_loss_beta=1.0, mmdet_conventions=True)
load_from = "checkpoints/hrnetv2_w32_imagenet_pretrained.pth"
optimizer = dict(reference_batch=16)  # mmdetection's lr 0.02 is for 8 GPUs x 2 images
schedule = dict(milestones=[16, 19], warmup_ratio=0.001)
train = dict(max_epochs=20, grad_clip=None)

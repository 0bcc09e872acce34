# One HRNetV2p-W32 with every COCO head: boxes and masks of the 80 classes (the Mask R-CNN W32 1x
# recipe of mmdetection configs/hrnet/mask_rcnn_hrnetv2p_w32_1x_coco.py: SGD lr 0.02 for 16 images,
# x0.1 at epochs 8 and 11 of 12, 500 warmup iterations, flip, 800 x <= 1333) plus torchvision's
# Keypoint R-CNN branch (8 convs of 512 on 14x14 RoIs, 17 COCO keypoints) on the same RoIs,
# trained on the person instances of person_keypoints_train2017.json (same annotation ids).
# COCO's layout has no semantic label maps: no segmentation head here (set model.seg_classes and
# data.{train,val}.semantic_dir for COCO-stuff-like maps). tools/test_multi.py reports box, mask
# and keypoint AP (on detected people) in one table.
# The backbone starts from the ImageNet weights (hrnetv2_w32_imagenet_pretrained.pth of
# HRNet/HRNet-Image-Classification, put under checkpoints/), its BatchNorm statistics frozen.
_base_ = ["../_base_/models/mask_rcnn_hrnetv2p.py", "../_base_/schedules/det_1x.py"]
model = dict(name="multi_hrnetv2p_w32", norm_eval=True, masks=True, keypoints=True, keypoint_channels=512,
             keypoint_convs=8, keypoint_roi_size=14, seg_classes=0, box_loss_beta=1.0,  # smooth L1 at 1.0
             mask_targets="mmdet1")  # HRNet-Object-Detection's mask targets: integer crop + resize
load_from = "checkpoints/hrnetv2_w32_imagenet_pretrained.pth"
optimizer = dict(reference_batch=16)  # the official lr 0.02 is for 8 GPUs x 2 images
data = dict(
    root="datasets/coco",
    train=dict(ann_file="annotations/instances_train2017.json",
               keypoint_file="annotations/person_keypoints_train2017.json", img_dir="images/train2017"),
    val=dict(ann_file="annotations/instances_val2017.json",
             keypoint_file="annotations/person_keypoints_val2017.json", img_dir="images/val2017"),
    batch_size=2,
    val_batch_size=2,
    num_workers=2,
    flip_prob=0.5,
)

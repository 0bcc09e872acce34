# Train top-down pose on your own keypoint set (animals, hands, faces, whole body): any COCO-format
# keypoint file whose category lists the K keypoint names (and a skeleton, for the drawings).
# HRNet-W32 at 256x192 with the official COCO recipe otherwise (Adam 1e-3, 210 epochs, flip test).
#
#   python tools/train_pose.py configs/pose/custom_keypoints.py --cfg-options data.root=DIR \
#       data.train.ann_file=train.json data.train.img_dir=images \
#       data.val.ann_file=val.json data.val.img_dir=images "data.sigmas=[0.025,0.025,...]"
#
# K comes from the file; left/right pairs for the flip augmentation and flip test from the names
# (left_/right_, l_/r_, _left/_right, _l/_r) unless data.flip_pairs=[[i,j],...] says otherwise;
# data.sigmas (K numbers, OKS per-keypoint standard deviations) is required for any set other than
# COCO's 17 joints. The checkpoints record the set, so tools/infer_pose.py needs nothing else.
_base_ = ["../models/pose_hrnet_w32.py", "../_base_/datasets/coco_keypoints.py", "../_base_/schedules/pose_210e.py"]
data = dict(
    root="datasets/custom",
    train=dict(ann_file="train.json", img_dir="images"),
    val=dict(ann_file="val.json", img_dir="images", det_file=None),  # ground-truth boxes
    input_size=[256, 192], heatmap_size=[64, 48], sigma=2.0,
    sigmas=None,  # required: K OKS sigmas
    # half-body augmentation needs upper/lower groups, which only COCO's person defines
    augment=dict(half_body_prob=0.0),
)

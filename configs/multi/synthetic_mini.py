# The embedded default: `hrseg train multi` with no argument (docs/multitask.md).
# The synthetic multi-task split (hrseg/data/synthetic/multi.py; generated under
# datasets/synthetic_multi on first use): the pose split's figures, with their 17 keypoints and
# instance masks, standing in the synthetic streets, 256x384; person and car instances and seven
# semantic classes (road, sidewalk, building, vegetation, sky, person, car). One small HRNet
# (W18-small-v1) trained from scratch on the CPU with all four heads.
# Scaled as configs/det/mini_maskrcnn.py (64-channel pyramid, anchors of 4 x stride, a 256-d box
# head, fewer proposals, RoIAlign with one sample per bin, AdamW lr 1e-3) but 128 RoI samples per
# image, plus a small keypoint head (4 convs of 128 channels, each with BatchNorm, on 14x14 RoIs, at
# most 32 positive RoIs per image: torchvision's 8 convs of 512 cost about 4 s per 32 RoIs on this
# CPU) and the V2 head.
work_dir = "work_dirs/multi_synthetic_mini"  # not work_dirs/synthetic_mini: that is pose's main job
model = dict(name="multi_hrnetv2p_w18_small_v1", min_size=256, max_size=384, out_channels=64, anchor_scale=4,
             # 128 RoI samples, at most a quarter positive: the mask and keypoint branches train on the
             # positives (128 against 64, measured: docs/multitask.md, "Status and measurements")
             representation_size=256, sampling_ratio=1, box_batch_size_per_image=128,
             rpn_pre_nms_top_n_train=500, rpn_post_nms_top_n_train=500,
             rpn_pre_nms_top_n_test=300, rpn_post_nms_top_n_test=300,
             masks=True, mask_channels=64, mask_convs=2, mask_roi_size=14, mask_rois_per_image=32,
             keypoints=True, keypoint_channels=128, keypoint_convs=4, keypoint_roi_size=14,
             keypoint_rois_per_image=32, keypoint_norm="bn",
             seg_classes=7)
data = dict(
    root="datasets/synthetic_multi",
    synthetic=dict(num_train=500, num_val=100, image_size=[256, 384]),
    # 4 images a step: twice the steps of 8 in the same time (the heads trained from scratch were
    # still learning at the end with 8: keypoint AP 0.234 -> 0.356 at seed 0; docs/multitask.md)
    batch_size=4,
    val_batch_size=8,
    num_workers=1,
    # no horizontal flips: the figures' left limbs wear a lighter tone than their right ones, a cue a
    # flip (which swaps the left and right labels) turns into noise (as in configs/pose/synthetic_mini.py);
    # without flips the keypoint AP on detected people went 0.090 -> 0.222 at seed 0 (docs/multitask.md)
    flip_prob=0.0,
)
optimizer = dict(type="AdamW", lr=0.001, weight_decay=0.0001)
# 8 epochs of 125 steps, the keypoint loss weighed 2: about 18 of the 20 CPU minutes on the quiet
# 2-core AMD EPYC (docs/multitask.md, "Status and measurements")
schedule = dict(type="multistep", milestones=[7], gamma=0.1, warmup_iters=50, warmup_ratio=0.1)
train = dict(max_epochs=8, eval_interval=8, grad_clip=35.0, log_interval=10)
loss_weights = dict(loss_keypoint=2.0)

# The embedded default: `python tools/train_det.py` with no argument.
# Boxes of the synthetic COCO-format split that the pose task also uses (people, balls, boxes and
# signs on textured backgrounds; generated under datasets/synthetic_pose on first use: 800 train
# + 100 val images of 256x256) and a small Faster R-CNN HRNetV2p trained from scratch on the CPU.
# Scaled down from the COCO recipe for 256 px images and a CPU: the small W18 HRNet, a 64-channel
# pyramid, anchors of 4 x stride (16..256 px), a 256-d box head, fewer proposals and RoI samples.
_base_ = ["../_base_/models/faster_rcnn_hrnetv2p.py", "../_base_/schedules/det_1x.py"]
model = dict(_delete_=True, name="det_fasterrcnn_hrnetv2p_w18_small_v1", min_size=256, max_size=256,
             out_channels=64, anchor_scale=4, representation_size=256, box_batch_size_per_image=128,
             rpn_pre_nms_top_n_train=500, rpn_post_nms_top_n_train=500,
             rpn_pre_nms_top_n_test=300, rpn_post_nms_top_n_test=300)
data = dict(
    root="datasets/synthetic_pose",
    synthetic=dict(),  # the generator's defaults, shared with the pose task
    batch_size=8,
    val_batch_size=8,
    num_workers=1,
    augment=dict(flip_prob=0.5),
)
optimizer = dict(lr=0.02)
schedule = dict(milestones=[3], warmup_iters=50, warmup_ratio=0.1)
train = dict(max_epochs=4, eval_interval=1, log_interval=10)

# mmsegmentation 0.x configs/hrnet/fcn_hr48_480x480_80k_pascal_context_59.py, the recipe of its published
# seg_hrnetv2_w48.mmseg_pascal_context_59_80k (mIoU 51.12): FCN-HRNetV2-W48, 80,000 iterations of 16 crops (4 per
# GPU x 4 GPUs, SyncBN), lr 0.004 and weight decay 1e-4. Field by field against mmsegmentation in
# docs/recipes.md. Evaluation every 26 epochs (about mmsegmentation's 8,000 iterations at 312 an epoch) and at the end.
_base_ = ["../../_base_/models/mmseg_fcn_hrnetv2.py", "../../_base_/datasets/mmseg_pascal_context_59.py",
          "../../_base_/schedules/mmseg_poly.py"]
model = dict(name="seg_hrnetv2_w48", num_classes=59, pretrained="hrnet_w48.msra_imagenet_v2")
optimizer = dict(lr=0.004, weight_decay=1e-4, reference_batch=16)
train = dict(max_iters=80000, eval_interval=26)

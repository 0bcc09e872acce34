# mmsegmentation 0.x configs/hrnet/fcn_hr48_512x512_160k_ade20k.py, the recipe of its published
# seg_hrnetv2_w48.mmseg_ade20k_160k: FCN-HRNetV2-W48, 160,000 iterations of 16 crops (4 per GPU x 4 GPUs,
# SyncBN). Field by field against mmsegmentation in docs/recipes.md. Evaluation every 13 epochs (about
# mmsegmentation's 16,000 iterations at 1,263 an epoch) and at the end.
_base_ = ["../../_base_/models/mmseg_fcn_hrnetv2.py", "../../_base_/datasets/mmseg_ade20k.py",
          "../../_base_/schedules/mmseg_poly.py"]
model = dict(name="seg_hrnetv2_w48", num_classes=150, pretrained="hrnet_w48.msra_imagenet_v2")
optimizer = dict(reference_batch=16)
train = dict(max_iters=160000, eval_interval=13)

# mmsegmentation 0.x configs/hrnet/fcn_hr48_512x512_40k_voc12aug.py, the recipe of its published
# seg_hrnetv2_w48.mmseg_voc12aug_40k: FCN-HRNetV2-W48 on VOC 2012 + SBD (21 classes), 40,000 iterations of 16
# crops (4 per GPU x 4 GPUs, SyncBN). Field by field in docs/recipes.md. Evaluation every 6 epochs (about
# mmsegmentation's 4,000 iterations at 661 an epoch) and at the end.
_base_ = ["../../_base_/models/mmseg_fcn_hrnetv2.py", "../../_base_/datasets/mmseg_voc12aug.py",
          "../../_base_/schedules/mmseg_poly.py"]
model = dict(name="seg_hrnetv2_w48", num_classes=21, pretrained="hrnet_w48.msra_imagenet_v2")
optimizer = dict(reference_batch=16)
train = dict(max_iters=40000, eval_interval=6)

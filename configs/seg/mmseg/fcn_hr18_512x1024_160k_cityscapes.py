# mmsegmentation 0.x configs/hrnet/fcn_hr18_512x1024_160k_cityscapes.py, the recipe of its published
# seg_hrnetv2_w18.mmseg_cityscapes_160k (mIoU 78.80): FCN-HRNetV2-W18 (all streams at stride 4 concatenated,
# conv1x1 + BN + ReLU, conv1x1, mmsegmentation's head initialisation), 160,000 iterations of 8 crops (2 per GPU x
# 4 GPUs, SyncBN). Field by field against mmsegmentation in docs/recipes.md. Evaluation every 43 epochs (about
# mmsegmentation's 16,000 iterations at 371 iterations an epoch) and at the end.
_base_ = ["../../_base_/models/mmseg_fcn_hrnetv2.py", "../../_base_/datasets/mmseg_cityscapes.py",
          "../../_base_/schedules/mmseg_poly.py"]
model = dict(name="seg_hrnetv2_w18", num_classes=19,
             pretrained="hrnet_w18.msra_imagenet_v2")  # open-mmlab://msra/hrnetv2_w18: the same ImageNet file
optimizer = dict(reference_batch=8)
train = dict(max_iters=160000, eval_interval=43)

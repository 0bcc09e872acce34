# mmsegmentation 0.x configs/hrnet/fcn_hr48_512x1024_160k_cityscapes.py, the recipe of its published
# seg_hrnetv2_w48.mmseg_cityscapes_160k (mIoU 80.65): the W18 recipe with HRNetV2-W48 (as mmsegmentation's
# file bases on fcn_hr18_512x1024_160k_cityscapes.py). Field by field in docs/recipes.md.
_base_ = ["./fcn_hr18_512x1024_160k_cityscapes.py"]
model = dict(name="seg_hrnetv2_w48", pretrained="hrnet_w48.msra_imagenet_v2")  # open-mmlab://msra/hrnetv2_w48

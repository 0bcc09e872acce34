# mmsegmentation 0.x configs/hrnet/fcn_hr18s_512x1024_160k_cityscapes.py, the recipe of its published
# seg_hrnetv2_w18_small_v2.mmseg_cityscapes_160k (mIoU 76.31): the W18 recipe with HR18-Small (W18-Small-v2: 2
# bottlenecks in stage 1, stages 2/3/4 with 1/3/2 modules of 2-block branches). Field by field in docs/recipes.md.
_base_ = ["./fcn_hr18_512x1024_160k_cityscapes.py"]
model = dict(name="seg_hrnetv2_w18_small_v2",
             pretrained="hrnet_w18_small_v2.msra_imagenet_v2")  # open-mmlab://msra/hrnetv2_w18_small

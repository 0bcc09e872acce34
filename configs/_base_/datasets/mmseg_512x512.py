# mmsegmentation 0.x's 512x512 datasets (ade20k.py, pascal_voc12.py): Resize img_scale (2048, 512) keep_ratio with
# ratio_range (0.5, 2.0), RandomCrop 512x512 (mmseg_pipeline.py); 4 images per GPU. Test: the whole image after
# Resize (2048, 512) keep_ratio (the short side 512 where the long side allows), no flip.
_base_ = ["./mmseg_pipeline.py"]
data = dict(crop_size=[512, 512], base_size=2048, short_size=512, batch_size=4, num_workers=4)  # 4 GPUs
test = dict(mode="whole", base_size=2048, short_size=512, scales=[1.0], flip=False)

# mmsegmentation 0.x configs/ocrnet/ocrnet_hr48_512x512_160k_ade20k.py, the recipe of its published
# seg_hrnetv2_ocr_w48.mmseg_ade20k_160k (mIoU 43.25): the FCN ADE20K recipe with HRNetV2-W48 + OCR (the
# auxiliary FCN head's loss weighted 0.4, no dropout, mmsegmentation's head initialisation). Field by field in
# docs/recipes.md.
_base_ = ["./fcn_hr48_512x512_160k_ade20k.py"]
model = dict(name="seg_hrnetv2_ocr_w48", dropout=0.0, mid_channels=512, key_channels=256)
loss = dict(aux_weight=0.4)

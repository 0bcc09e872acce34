# mmsegmentation 0.x configs/ocrnet/ocrnet_hr48_512x1024_160k_cityscapes.py, the recipe of its published
# seg_hrnetv2_ocr_w48.mmseg_cityscapes_160k (mIoU 81.35): HRNetV2-W48 + OCR (mmsegmentation's
# CascadeEncoderDecoder: the FCNHead's auxiliary logits, loss weight 0.4, then the OCRHead, 1.0; no dropout, both
# heads initialised as mmsegmentation does), the FCN recipe's data, schedule and loss otherwise. Field by field
# in docs/recipes.md.
_base_ = ["./fcn_hr18_512x1024_160k_cityscapes.py"]
model = dict(name="seg_hrnetv2_ocr_w48", dropout=0.0, mid_channels=512, key_channels=256,
             pretrained="hrnet_w48.msra_imagenet_v2")  # open-mmlab://msra/hrnetv2_w48
loss = dict(aux_weight=0.4)

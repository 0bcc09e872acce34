# HRNetV2-W48 + OCR on LIP (experiments/lip/seg_hrnet_ocr_w48_473x473_sgd_lr7e-3_wd5e-4_bs_40_epoch150.yaml);
# the auxiliary loss is weighted 0.4. Published: 56.48 mIoU on LIP val, flip (hrnet_ocr_lip_5648_torch04.pth).
_base_ = ["./hrnetv2_w48_lip_473x473.py"]
model = dict(name="seg_hrnetv2_ocr_w48", num_classes=20, align_corners=True)  # the official OCR code's default
loss = dict(aux_weight=0.4)

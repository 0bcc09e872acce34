# HRNetV2-W48 + OCR on ADE20K, the official recipe of the published file (hrnet_ocr_ade20k_4451_torch04.pth,
# README: 44.5 mIoU single scale, 45.5 multi-scale + flip)
# (experiments/ade20k/seg_hrnet_ocr_w48_520x520_ohem_sgd_lr2e-2_wd1e-4_bs_16_epoch120.yaml): as the W48 recipe
# with scales 0.5-2.1 (SCALE_FACTOR 16) and the auxiliary loss weighted 0.4 (LOSS.BALANCE_WEIGHTS [0.4, 1]).
_base_ = ["./hrnetv2_w48_ade20k_520x520_ohem.py"]
model = dict(name="seg_hrnetv2_ocr_w48")
data = dict(scale_range=[0.5, 2.1])
loss = dict(aux_weight=0.4)

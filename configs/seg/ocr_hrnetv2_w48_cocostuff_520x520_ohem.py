# HRNetV2-W48 + OCR on COCO-Stuff 10k, the official recipe of the published file
# (hrnet_ocr_cocostuff_3965_torch04.pth, README: 39.7 mIoU single scale, 40.6 multi-scale + flip)
# (experiments/cocostuff/seg_hrnet_ocr_w48_520x520_ohem_sgd_lr1e-3_wd1e-4_bs_16_epoch110.yaml): as the W48
# recipe, the OCR modules at 10x the lr (NONBACKBONE_KEYWORDS ['cls', 'aux', 'ocr']: all outside the
# backbone), the auxiliary loss weighted 0.4 (LOSS.BALANCE_WEIGHTS [0.4, 1]).
_base_ = ["./hrnetv2_w48_cocostuff_520x520_ohem.py"]
model = dict(name="seg_hrnetv2_ocr_w48")
loss = dict(aux_weight=0.4)

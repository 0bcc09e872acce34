# As hrnetv2_w48_cityscapes_1024x512.py with OHEM, as the official
# seg_hrnet_w48_train_ohem_512x1024_sgd_lr1e-2_wd5e-4_bs_12_epoch484.yaml: pixels whose true-class
# probability is below max(0.9, the 131072-th smallest) are kept.
_base_ = ["./hrnetv2_w48_cityscapes_1024x512.py"]
loss = dict(ohem=True, ohem_thresh=0.9, ohem_min_kept=131072)

# FCOS on the CPU: `python tools/train_det.py configs/det/mini_fcos.py` (torchvision's head) or with
# `--cfg-options model.head_type=mmdetection` (mmdetection's head, targets and losses, as the FCOS recipe).
# The synthetic split and the small HRNet of mini_fasterrcnn.py with a 64-channel pyramid and FCOS towers
# of two convs; AdamW lr 1e-3 from scratch, 4 epochs, lr / 10 for the last (docs/detection.md: both heads).
_base_ = ["./mini_fasterrcnn.py"]
model = dict(_delete_=True, name="det_fcos_hrnetv2p_w18_small_v1", min_size=256, max_size=256, out_channels=64,
             num_convs=2)
optimizer = dict(type="AdamW", lr=0.001, weight_decay=0.0001)
schedule = dict(milestones=[3])
train = dict(max_epochs=4)

# The official HRNet-W48 MPII recipe at 256x256 (experiments/mpii/hrnet/w48_256x256_adam_lr1e-3.yaml): the COCO
# recipe's schedule (Adam 1e-3, x0.1 at 170 and 200 of 210 epochs) on MPII's files, PCKh@0.5 deciding best.pth.
_base_ = ["../models/pose_hrnet_w48.py", "../_base_/datasets/mpii.py", "../_base_/schedules/pose_210e.py"]
# 32 images per GPU on 4 GPUs: the lr 1e-3 is for a total batch of 128 (scaled linearly otherwise).
optimizer = dict(reference_batch=128)
model = dict(pretrained="hrnet_w48.msra_imagenet_pose", num_joints=16)

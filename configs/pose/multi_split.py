# The separate pipeline's top-down pose model for docs/multitask.md's comparison: the pose main
# job's recipe (configs/pose/synthetic_mini.py: W18-small-v1 at 128x96, no flips, as the figures'
# left and right limbs differ in tone) trained on the people of the synthetic multi-task split.
# Needs the split: `hrseg synthetic multi` writes datasets/synthetic_multi. Evaluated on ground-truth
# boxes by default; `hrseg test pose multi_split --det-json DETS` scores it on a detector's people.
_base_ = ["./synthetic_mini.py"]
work_dir = "work_dirs/multi_split_pose"
data = dict(
    root="datasets/synthetic_multi",
    synthetic=None,
    train=dict(ann_file="annotations/person_keypoints_train.json", img_dir="images/train"),
    val=dict(ann_file="annotations/person_keypoints_val.json", img_dir="images/val"),
)
schedule = dict(milestones=[10])
train = dict(max_epochs=12, eval_interval=12)

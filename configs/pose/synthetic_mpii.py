# The synthetic mini job in MPII's format: the figures drawn with MPII's 16 joints and written as MPII's files
# (annot/train.json, annot/valid.json, annot/gt_valid.mat: hrseg.data.synthetic.mpii, generated under
# datasets/synthetic_mpii on first use), trained as synthetic_mini.py trains the COCO-format split and scored by
# PCKh: MPII's adapter, crops and metric end to end without MPII's images. MPII's crops are square (256x256 in
# the recipes), so 128x128 here.
_base_ = ["synthetic_mini.py"]
model = dict(num_joints=16)
data = dict(root="datasets/synthetic_mpii", format="mpii", input_size=[128, 128], heatmap_size=[32, 32])

# HRNetV2-W48 on Cityscapes, the official recipe
# (HRNet-Semantic-Segmentation experiments/cityscapes/seg_hrnet_w48_train_512x1024_sgd_lr1e-2_wd5e-4_bs_12_epoch484.yaml):
# 1024x512 crops from frames rescaled to a long side of 2048 x one of 0.5, 0.6, ..., 2.1 (black
# padding), flip; SGD lr 0.01, momentum 0.9, weight decay 5e-4, poly 0.9, 484 epochs, 12 images
# per iteration (3 per GPU x 4) normalised together by SyncBatchNorm, cross-entropy with the
# official class weights. On fewer images per step the lr is scaled linearly (see docs/recipes.md).
# Start from ImageNet weights with --cfg-options or by loading hrnetv2_w48_imagenet_pretrained.pth.
_base_ = ["../_base_/models/seg_hrnetv2.py", "../_base_/datasets/cityscapes.py",
          "../_base_/schedules/seg_poly.py"]
model = dict(name="seg_hrnetv2_w48", num_classes=19)
data = dict(scale_range=[0.5, 2.1], scale_step=0.1, pad_value=[0, 0, 0])
optimizer = dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=5e-4, nesterov=False, reference_batch=12)
train = dict(max_epochs=484, eval_interval=10, sync_bn=True)
loss = dict(ohem=False, class_weight=[0.8373, 0.918, 0.866, 1.0345, 1.0166, 0.9969, 0.9754, 1.0489, 0.8786,
                                      1.0023, 0.9539, 0.9843, 1.1116, 0.9037, 1.0865, 1.0955, 1.0865,
                                      1.1529, 1.0507])
# The official YAML starts from pretrained_models/hrnetv2_w48_imagenet_pretrained.pth (hrseg.weights).
model.update(pretrained="hrnet_w48.msra_imagenet_v2")

# UDP's combined maps (docs/pose.md "UDP's combined maps") on the official W32 256x192 recipe: UDP's crops,
# per joint a disk and two offset maps (51 outputs), mmpose's CombinedTargetMSELoss, the flip test without
# the shift. mmpose's td-hm_hrnet-w32_udp-regress-8xb64-210e_coco-256x192 (AP 0.759,
# pose_hrnet_w32.mmpose1x_coco_256x192_udp_regress) trains the same network for 210 epochs on its own
# schedule (Adam 5e-4 for a total batch of 512, 500 linear warm-up iterations), as its UDP recipe does.
_base_ = ["./hrnet_w32_coco_256x192_udp.py"]
data = dict(heatmap_type="combined")

# UDP (unbiased data processing, Huang et al. CVPR 2020; docs/pose.md "UDP") on the official W32 256x192
# recipe: crops on pixel centres, sub-pixel targets, flip test without the shift, DARK-UDP decoding.
# mmpose's td-hm_hrnet-w32_udp-8xb64-210e_coco-256x192 (AP 0.762, pose_hrnet_w32.mmpose1x_coco_256x192_udp)
# trains the same network for 210 epochs on its own schedule (Adam 5e-4 for a total batch of 512, 500
# linear warm-up iterations; its plain recipe on that schedule gives 0.746, the official one 0.744).
_base_ = ["./hrnet_w32_coco_256x192.py"]
data = dict(udp=True)
test = dict(shift_heatmap=False, decoder="dark")

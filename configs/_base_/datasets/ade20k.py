# ADE20K (SceneParsing) as released, ADEChallengeData2016/{images,annotations}/{training,validation} (the
# official HRNet lists name the same images and labels; see datasets/README.md): 150 classes, 0 ("other")
# ignored. Training: the official HRNet-OCR recipes' (hrnet_ocr_520.py; the W48 YAML's SCALE_FACTOR 11 stops
# the scales at 1.6). Testing: the published protocol (README: list/ade20k/testval.lst): the short side
# 520 padded to a multiple of 8 first (test.protocol_dataset="ade20k"), then as PASCAL-Context's.
_base_ = ["./hrnet_ocr_520.py"]
data = dict(
    type="ade20k",
    root="datasets/ADEChallengeData2016",
    train_split="training",
    val_split="validation",
)
test = dict(protocol_dataset="ade20k")

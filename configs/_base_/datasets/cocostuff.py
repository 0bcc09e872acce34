# COCO-Stuff 10k as the official HRNet code reads it (lib/datasets/cocostuff.py; see datasets/README.md):
# {train,val}.lst under the root, a line per sample naming {split}/image/*.jpg and {split}/label/*.png, the
# labels holding the release's ids (0 unlabeled, 1..182), mapped to 171 classes. Training: the official
# HRNet-OCR recipes' (hrnet_ocr_520.py). Testing: the published protocol (README:
# list/cocostuff/testval.lst): the short side 520 padded to a multiple of 8 first, then as PASCAL-Context's,
# the padding cut off before the scores are resized to the label (test.protocol_dataset="cocostuff").
_base_ = ["./hrnet_ocr_520.py"]
data = dict(
    type="cocostuff",
    root="datasets/cocostuff",
    train_split="train",
    val_split="val",
)
test = dict(protocol_dataset="cocostuff")

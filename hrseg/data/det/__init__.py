"""Detection data: COCO instances (boxes, polygon and RLE masks), augmentation, the dataset."""

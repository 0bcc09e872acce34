"""Drawing results on photographs: skeletons, boxes, masks."""

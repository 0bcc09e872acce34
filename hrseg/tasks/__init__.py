"""End-to-end tasks (pose, segmentation, detection): the logic behind the tools."""

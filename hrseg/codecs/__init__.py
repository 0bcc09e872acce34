"""Target encoders / decoders: the heatmap codecs of top-down pose (MSRA Gaussian, DARK, UDP, UDP's combined
maps), shared by training targets and decoding."""

"""Target encoders / decoders: the heatmap codecs of top-down pose (MSRA Gaussian, DARK), shared by training targets and decoding."""

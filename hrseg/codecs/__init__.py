"""Target encoders / decoders: the heatmap codecs of top-down pose (MSRA Gaussian, DARK, UDP), shared by
training targets and decoding."""

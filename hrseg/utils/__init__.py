"""Small helpers every layer above may use: atomic files, image files, progress, profiling, masks."""

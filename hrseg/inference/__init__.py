"""Prediction at run time: the task predictors, pre- and post-processing, optimised models, video."""

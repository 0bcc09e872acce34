"""hrseg's version, in one place: the package, every checkpoint's meta and ``hrseg --version`` read it."""
__version__ = "0.1.0"

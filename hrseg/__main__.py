"""``python -m hrseg ...``: the ``hrseg`` command (hrseg.commands._dispatch)."""
from hrseg.commands._dispatch import console

if __name__ == "__main__":
    console()

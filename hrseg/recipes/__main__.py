"""``python -m hrseg.recipes > docs/recipes.md``: the recipes page."""
import sys

from hrseg.recipes import render

sys.stdout.write(render() + "\n")

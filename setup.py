"""Build step for the wheel: the repository's top-level ``configs/`` ships as ``hrseg/configs/``.

Everything else about the package is in pyproject.toml. The configs stay where they are in the
repository (the documented layout); the build copies the whole tree, ``_base_`` fragments
included, so the relative ``_base_`` paths inside the files resolve the same way when
installed. hrseg.configs_index finds either location. An editable install reads ``configs/``
in place and needs no copy.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithConfigs(build_py):
    def run(self):
        if not getattr(self, "editable_mode", False):  # a build/ left by an earlier build keeps deleted modules
            shutil.rmtree(Path(self.build_lib) / "hrseg", ignore_errors=True)
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "hrseg" / "configs"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(Path(__file__).resolve().parent / "configs", target,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPyWithConfigs})

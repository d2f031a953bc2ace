"""Packaging beyond pyproject.toml: the built-in study files live in the top-level studies/ folder
and ship inside the wheel as the package data tuner/studies/*.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["tuner*", "objectives*"]), "tuner.studies"],
    package_dir={"tuner.studies": "studies"},
    package_data={"tuner.studies": ["*.toml"]},
)

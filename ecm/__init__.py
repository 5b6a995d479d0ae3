"""ecm: find the Medi-Cal members who qualify for Enhanced Care Management."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ecm")
except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0"

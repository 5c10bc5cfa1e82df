"""Commune boundaries: import (any format and CRS) and assignment of tests to communes."""

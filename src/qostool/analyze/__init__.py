"""Compliance statistics per commune, operator and technology for one reporting month."""

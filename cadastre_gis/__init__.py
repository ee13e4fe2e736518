"""Tashkent cadastre and situation-center domain: settings, database, registry rules."""

__version__ = "0.1.0"

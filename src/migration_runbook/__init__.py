"""Plan, run and account for a phased production migration as parameterised notebooks."""

__version__ = "0.1.0"

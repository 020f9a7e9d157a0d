"""amiwm: JEPA world models that predict representations, never pixels."""

__version__ = "0.1.0"

"""The reference pipeline's Components (``dg`` defs folder): definitions declared in ``defs.yaml``."""

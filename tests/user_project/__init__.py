"""A second project, written as a user would from the public API alone (see ``definitions.py``)."""

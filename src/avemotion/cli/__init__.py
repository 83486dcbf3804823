"""The ``avemotion`` command line."""

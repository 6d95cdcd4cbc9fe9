"""The ``soundsafe`` command line."""

"""The ``hcad`` command line (click). Subcommands live in their own modules and load lazily."""

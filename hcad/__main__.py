"""``python -m hcad`` runs the CLI."""

from hcad.cli.main import main

if __name__ == "__main__":
    main()

"""`python -m seedance_nb`: the same as the `seedance-nb` command."""

from seedance_nb.cli import main

if __name__ == "__main__":
    main()

"""`python -m hubs.cli`: the same as the `hubs` command."""

from hubs.cli import main

if __name__ == "__main__":
    main()

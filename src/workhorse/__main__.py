"""``python -m workhorse``: the same as the ``workhorse`` command."""

from workhorse.cli import main

if __name__ == "__main__":
    main()

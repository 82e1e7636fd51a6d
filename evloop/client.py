"""`python3 -m evloop.client`: kept so that this command works; the command line
itself is evloop.cli.client, and importing this module imports nothing."""

if __name__ == "__main__":
    import sys

    from evloop.cli.client import main

    sys.exit(main())

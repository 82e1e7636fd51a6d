"""`python3 -m evloop.serve`: kept so that this command works; the command line
itself is evloop.cli.serve, and importing this module imports nothing."""

if __name__ == "__main__":
    import sys

    from evloop.cli.serve import main

    sys.exit(main())

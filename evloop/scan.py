"""`python3 -m evloop.scan`: kept so that this command works; the command line
itself is evloop.cli.scan, and importing this module imports nothing."""

if __name__ == "__main__":
    import sys

    from evloop.cli.scan import main

    sys.exit(main())

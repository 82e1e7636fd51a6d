"""`python3 -m evloop.aio [--trace] script.py [args...]`: the command line itself is
evloop.cli.aio, and importing this module imports nothing."""

if __name__ == "__main__":
    import sys

    from evloop.cli.aio import main

    sys.exit(main())

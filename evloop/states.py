"""`python3 -m evloop.states`: the command line itself is evloop.cli.states, and
importing this module imports nothing."""

if __name__ == "__main__":
    import sys

    from evloop.cli.states import main

    sys.exit(main())

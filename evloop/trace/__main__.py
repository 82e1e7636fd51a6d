"""`python3 -m evloop.trace view run.json`: kept so that this command works; the
command line itself is evloop.cli.trace, and importing this module imports nothing."""

if __name__ == "__main__":
    import sys

    from evloop.cli.trace import main

    sys.exit(main())

try:
    from redraft_cli.entry import run
except KeyboardInterrupt:  # Ctrl-C while this module starts: as after it (see entry.py)
    raise SystemExit(130) from None

run()

from redraft_cli.main import run

run()

from visualizer_cli.main import run

run()

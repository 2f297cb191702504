from travelbot.cli import main

main(prog_name="travelbot")

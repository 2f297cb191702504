from travelbot.cli import main

main()

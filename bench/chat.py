"""Chat speed and memory of every variant; prints JSON. Same as `travelbot bench chat --json`.

    python bench/chat.py [--max-new-tokens 128] [--min-adapters 4]
"""

from travelbot.cli import main

if __name__ == "__main__":
    import sys

    main(["bench", "chat", "--json", *sys.argv[1:]], prog_name="travelbot")

"""A fresh golden-answer run of every local variant, batched, against llama.cpp's single stream; prints JSON.
Same as `travelbot bench eval --json`.

    python bench/eval.py [--batch-size 8] [--split dev] [--compare 4]
"""

from travelbot.cli import main

if __name__ == "__main__":
    import sys

    main(["bench", "eval", "--json", *sys.argv[1:]], prog_name="travelbot")

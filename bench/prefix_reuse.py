"""Would reusing the computed system prompt change llama.cpp's answers? Prints JSON: per local variant, the
prompt tokens a shared prefix would save on the golden dev questions and how far the first-token logits of a
prompt read in two parts (shared prefix, then the rest) are from the same prompt read whole.

    python bench/prefix_reuse.py [--questions 6]
"""

import argparse
import json

from travelbot.bench import prefix_reuse
from travelbot.models import get_registry

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=None, help="only the first N dev questions")
    args = parser.parse_args()
    variants = [v for v in get_registry().variants().values() if v.base.local]
    variants = [v for v in variants if v.base.name == variants[0].base.name]
    print(json.dumps(prefix_reuse(variants, args.questions), indent=1))

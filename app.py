"""Entry point for Hugging Face Spaces and `python app.py`: build the dashboard and serve it."""

import sys

from travelbot.errors import TravelbotError
from travelbot.ui import launch

if __name__ == "__main__":
    try:
        launch()  # on the address the platform asks for (GRADIO_SERVER_NAME/PORT on a Space)
    except TravelbotError as exc:
        sys.exit(f"travelbot: {exc}")

"""Entry point for Hugging Face Spaces and `python app.py`: build the dashboard and serve it."""

from travelbot.config import get_settings
from travelbot.ui import launch

if __name__ == "__main__":
    settings = get_settings()
    launch(host=settings.host, port=settings.port)

"""travelbot: compare fine-tuned travel chatbots and check which metrics agree with people."""

__version__ = "0.1.0"

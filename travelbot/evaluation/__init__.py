"""Evaluation: variants' answers to the golden questions, scored by NLP metrics, Ragas and an LLM judge."""
